"""Live stock per serverless pool, from Runpod's catalog (`include=AVAILABILITY&product=SERVERLESS`).

Runpod reports availability per GPU type (overall and per data center); endpoints are placed by pool.
A pool's availability is therefore the best of its types, counting only the data centers the
deployment allows, and a type offering no CUDA version at or above the image's floor counts as NONE.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

LEVELS = ("NONE", "LOW", "MEDIUM", "HIGH")  # worst to best, as the catalog's AvailabilityLevel


@dataclass(frozen=True)
class Stock:
    """What the catalog says about each pool (pool id -> level), or why it could not say."""

    levels: Mapping[str, str]
    prices: Mapping[str, float] = field(default_factory=dict)
    error: str | None = None

    def level(self, pool_id: str) -> str | None:
        """The pool's level; None when the catalog did not answer or does not list the pool."""
        return self.levels.get(pool_id)


def rank(level: str | None) -> int:
    """Higher is better; unknown sorts with LOW (listed, but we cannot vouch for it)."""
    return LEVELS.index(level) if level in LEVELS else 1


def type_level(gpu: Mapping[str, Any], data_centers: Iterable[str]) -> str:
    """One GPU type's level, restricted to `data_centers` when given (empty: any)."""
    if gpu.get("cudaVersions") is not None and not gpu["cudaVersions"]:
        return "NONE"  # no CUDA version at or above the floor is offered on this type
    allowed = set(data_centers)
    if not allowed:
        level = gpu.get("availability")
        return level if level in LEVELS else "NONE"
    levels = [dc.get("availability") for dc in gpu.get("dataCenters") or [] if dc.get("id") in allowed]
    return max((lv for lv in levels if lv in LEVELS), key=LEVELS.index, default="NONE")


def pool_levels(gpus: Iterable[Mapping[str, Any]], data_centers: Iterable[str] = ()) -> dict[str, str]:
    """pool id -> the best level of its GPU types (in the allowed data centers)."""
    allowed = list(data_centers)
    levels: dict[str, str] = {}
    for gpu in gpus:
        pool = gpu.get("pool")
        if not pool:
            continue
        level = type_level(gpu, allowed)
        if rank(level) >= rank(levels.get(pool, "NONE")):
            levels[pool] = level
    return levels


def serverless_prices(gpus: Iterable[Mapping[str, Any]]) -> dict[str, float]:
    """pool id -> Runpod's serverless price per GPU-hour, where the catalog lists one."""
    prices: dict[str, float] = {}
    for gpu in gpus:
        price = (gpu.get("price") or {}).get("serverless")
        if gpu.get("pool") and isinstance(price, int | float):
            prices.setdefault(str(gpu["pool"]), float(price))
    return prices
