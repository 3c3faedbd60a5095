"""The sandbox's offline model catalog: a few well-known public models, for when the Hub cannot be reached.

Only sandbox deployments use it, and only when the Hub gave no answer at all (not when it said no).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from shared.clients.hub import ModelFacts

DATA = Path(__file__).resolve().parent / "data" / "models.json"


@cache
def _entries() -> dict[str, dict[str, Any]]:
    rows = json.loads(DATA.read_text())["models"]
    return {row["model_id"].lower(): row for row in rows}


def known_models() -> list[str]:
    return sorted(row["model_id"] for row in _entries().values())


def offline_facts(model_id: str) -> ModelFacts | None:
    """The catalog's facts about `model_id` (case-insensitive, as the Hub), or None when it is not listed."""
    row = _entries().get(model_id.lower())
    if row is None:
        return None
    return ModelFacts(
        model_id=row["model_id"],
        sha=None,
        library_name=row["library_name"],
        pipeline_tag=row["pipeline_tag"],
        parameters={k: int(v) for k, v in row["parameters"].items()},
        config=dict(row["config"]),
        tags=("sandbox-catalog",),
    )


def weights_gb(model_id: str) -> float | None:
    """The listed model's weights in GB (None when not listed): how long its simulated download takes."""
    row = _entries().get(model_id.lower())
    if row is None:
        return None
    sizes = {"F32": 4, "BF16": 2, "F16": 2, "I8": 1}
    total: int = sum(int(count) * sizes.get(dtype, 2) for dtype, count in row["parameters"].items())
    return total / 1024**3


def task_of(model_id: str) -> str | None:
    row = _entries().get(model_id.lower())
    return None if row is None else str(row["pipeline_tag"])
