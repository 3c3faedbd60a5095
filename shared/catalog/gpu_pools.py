"""GPU selection: which Runpod serverless pools (and how many GPUs per worker) fit a model."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from shared.platform.faults import Fault

HEADROOM = 0.9  # use at most 90% of a GPU's memory (vLLM's default utilisation)
MAX_POOLS = 3


@dataclass(frozen=True)
class Pool:
    id: str
    vram_gb: int
    price_per_gpu_hour: float | None
    max_count: int
    gpus: tuple[str, ...]
    aliases: tuple[str, ...]

    def usable_gb(self, count: int = 1) -> float:
        return self.vram_gb * HEADROOM * count


@dataclass(frozen=True)
class Selection:
    pools: list[str]
    gpu_count: int
    reason: str


class SelectionError(Fault):
    """No pool fits the model or the request (never transient: the same input fails the same way)."""

    def __init__(self, code: str, message: str):
        super().__init__(code, message)


@cache
def pools() -> tuple[Pool, ...]:
    data = json.loads((Path(__file__).parent / "data" / "gpu_pools.json").read_text())
    return tuple(
        Pool(
            id=p["id"],
            vram_gb=p["vram_gb"],
            price_per_gpu_hour=p["price_per_gpu_hour"],
            max_count=p["max_count"],
            gpus=tuple(p["gpus"]),
            aliases=tuple(p["aliases"]),
        )
        for p in data["pools"]
    )


def _norm(text: str) -> str:
    return "".join(ch for ch in text.upper() if ch.isalnum())


def resolve_tier(tier: str) -> Pool | None:
    """`auto` → None; a pool id (AMPERE_48) or a GPU name (A40, 4090, "RTX A6000") → its pool."""
    if tier.strip().lower() == "auto":
        return None
    key = _norm(tier)
    for pool in pools():
        names = (pool.id, *pool.aliases, *pool.gpus)
        if key in {_norm(n) for n in names} or key in {_norm("NVIDIA" + n) for n in pool.gpus}:
            return pool
    raise SelectionError("unknown_gpu_tier", f"unknown gpu_tier {tier!r}; use auto, a GPU name or a pool id")


def _price(pool: Pool) -> float:
    return pool.price_per_gpu_hour if pool.price_per_gpu_hour is not None else math.inf


def select(required_gb: float, tier: str = "auto", gpu_count: int | None = None) -> Selection:
    need = f"{required_gb:.1f} GB"
    requested = resolve_tier(tier)
    if requested is not None:
        count = gpu_count or 1
        if requested.usable_gb(count) < required_gb:
            raise SelectionError(
                "gpu_too_small",
                f"gpu_tier {tier} ({requested.id}, {requested.vram_gb} GB x {count}) is too small: the model "
                f"needs about {need} of VRAM (at most {int(HEADROOM * 100)}% of a GPU is used); "
                f"choose a GPU with at least {math.ceil(required_gb / HEADROOM)} GB or use gpu_tier=auto",
            )
        return Selection(
            [requested.id], count, f"requested gpu_tier {tier} → {requested.id}; the model needs about {need}"
        )
    counts = [gpu_count] if gpu_count else [1, 2, 4, 8]
    for count in counts:
        fitting = sorted(
            (p for p in pools() if count <= p.max_count and p.usable_gb(count) >= required_gb),
            key=lambda p: (_price(p) * count, p.vram_gb),
        )
        if fitting:
            chosen = fitting[:MAX_POOLS]
            per = ", ".join(f"{p.id} ({p.vram_gb} GB x {count})" for p in chosen)
            return Selection(
                [p.id for p in chosen],
                count,
                f"the model needs about {need}; cheapest pools that fit: {per}",
            )
    biggest = max(pools(), key=lambda p: p.vram_gb * p.max_count)
    raise SelectionError(
        "no_gpu_fits",
        f"the model needs about {need}, more than the largest option "
        f"({biggest.id}, {biggest.vram_gb} GB x {biggest.max_count})",
    )


def pool_by_id(pool_id: str) -> Pool | None:
    return next((p for p in pools() if p.id == pool_id), None)
