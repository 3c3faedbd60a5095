"""get_hf_name: the data-driven mapping from (model_name, provider) to a Hugging Face repo id."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

_CATALOG = Path(__file__).parent / "data" / "model_catalog.json"


class UnknownModel(Exception):
    def __init__(self, model_name: str, provider: str | None, known: list[str]):
        where = f" for provider {provider!r}" if provider else ""
        super().__init__(f"unknown model_name {model_name!r}{where}")
        self.model_name, self.provider, self.known = model_name, provider, known


@cache
def _entries() -> tuple[dict, ...]:
    return tuple(json.loads(_CATALOG.read_text())["models"])


def get_hf_name(model_name: str, provider: str | None = None) -> str:
    name = model_name.strip().lower()
    prov = (provider or "").strip().lower() or None
    matches = [e for e in _entries() if e["name"] == name and (prov is None or e["provider"] in (prov, "*"))]
    # An exact provider match beats a wildcard; without a provider the name must be unambiguous.
    exact = [e for e in matches if e["provider"] == prov]
    chosen = exact or matches
    ids = {e["hf_model_id"] for e in chosen}
    if len(ids) == 1:
        return ids.pop()
    known = sorted({e["name"] for e in _entries() if prov is None or e["provider"] in (prov, "*")})
    raise UnknownModel(model_name, provider, known)
