"""The model mapping shipped with the project (shared/catalog/data/model_names.json): the registry's seed."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

_CATALOG = Path(__file__).parent / "data" / "model_names.json"


class UnknownModel(Exception):
    def __init__(self, model_name: str, provider: str | None, known: list[str]):
        where = f" for provider {provider!r}" if provider else ""
        super().__init__(f"unknown model_name {model_name!r}{where}")
        self.model_name, self.provider, self.known = model_name, provider, known


@cache
def shipped_entries() -> tuple[dict[str, Any], ...]:
    return tuple(json.loads(_CATALOG.read_text())["models"])
