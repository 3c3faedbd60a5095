"""GPU selection: which Runpod serverless pools (and how many GPUs per worker) fit a model."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from shared.catalog.availability import Stock, rank
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
    candidates: tuple[dict[str, Any], ...] = ()  # every pool considered: chosen, skipped, and why


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


def _price(pool: Pool, stock: Stock | None = None) -> float:
    live = stock.prices.get(pool.id) if stock else None
    if live is not None:
        return live
    return pool.price_per_gpu_hour if pool.price_per_gpu_hour is not None else math.inf


def _candidate(pool: Pool, count: int, stock: Stock | None, chosen: bool, reason: str) -> dict[str, Any]:
    price = _price(pool, stock)
    return {
        "pool": pool.id,
        "gpus": list(pool.gpus),
        "gpu_count": count,
        "vram_gb": pool.vram_gb,
        "price_per_gpu_hour": None if math.isinf(price) else price,
        "availability": stock.level(pool.id) if stock else None,
        "chosen": chosen,
        "skipped": not chosen,
        "reason": reason,
    }


def _ranked(fitting: list[Pool], count: int, stock: Stock | None) -> tuple[list[dict[str, Any]], list[Pool], str]:
    """Fitting pools by live availability, then price: (candidates, chosen pools, how they were chosen)."""

    def level(pool: Pool) -> str | None:
        return stock.level(pool.id) if stock and stock.levels else None

    order = sorted(fitting, key=lambda p: (-rank(level(p)), _price(p, stock) * count, p.vram_gb))
    in_stock = [p for p in order if level(p) != "NONE"]
    if in_stock:
        chosen, how = in_stock[:MAX_POOLS], "fitting pools by availability, then price"
    else:
        order = sorted(fitting, key=lambda p: (_price(p, stock) * count, p.vram_gb))
        chosen = order[:MAX_POOLS]
        how = "no fitting pool has stock now: the cheapest kept, Runpod places workers when capacity returns"
    if not (stock and stock.levels):
        how = "cheapest pools that fit" + (f" (live availability unknown: {stock.error})" if stock else "")
    candidates = []
    for p in order:
        if p in chosen:
            why = f"chosen: rank {chosen.index(p) + 1} of {len(chosen)}"
        elif level(p) == "NONE":
            why = "skipped: no stock in the allowed data centers (or none at the image's CUDA version)"
        else:
            why = f"skipped: an endpoint lists at most {MAX_POOLS} pools"
        candidates.append(_candidate(p, count, stock, p in chosen, why))
    return candidates, chosen, how


def select(
    required_gb: float,
    tier: str = "auto",
    gpu_count: int | None = None,
    stock: Stock | None = None,
    max_price: float | None = None,
) -> Selection:
    """The pools for a model needing `required_gb`; `max_price` (per GPU-hour) skips the pools above it."""
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
        if not affordable(requested, stock, max_price):
            raise _too_pricey(required_gb, max_price, [requested], stock)
        return Selection(
            [requested.id],
            count,
            f"requested gpu_tier {tier} → {requested.id}; the model needs about {need}",
            (_candidate(requested, count, stock, True, f"chosen: requested gpu_tier {tier}"),),
        )
    counts = [gpu_count] if gpu_count else [1, 2, 4, 8]
    priced_out: list[Pool] = []
    for count in counts:
        fitting = [p for p in pools() if count <= p.max_count and p.usable_gb(count) >= required_gb]
        within = [p for p in fitting if affordable(p, stock, max_price)]
        priced_out = priced_out or [p for p in fitting if p not in within]
        if within:
            candidates, chosen, how = _ranked(within, count, stock)
            skipped = [
                _candidate(p, count, stock, False, _above(p, stock, max_price)) for p in fitting if p not in within
            ]
            too_small = [
                _candidate(p, count, stock, False, f"skipped: too small ({p.vram_gb} GB x {count}) for {need}")
                for p in pools()
                if p not in fitting
            ]
            per = ", ".join(f"{p.id} ({p.vram_gb} GB x {count})" for p in chosen)
            return Selection(
                [p.id for p in chosen],
                count,
                f"the model needs about {need}; {how}: {per}",
                (*candidates, *skipped, *too_small),
            )
    if priced_out:
        raise _too_pricey(required_gb, max_price, priced_out, stock)
    biggest = max(pools(), key=lambda p: p.vram_gb * p.max_count)
    raise SelectionError(
        "no_gpu_fits",
        f"the model needs about {need}, more than the largest option "
        f"({biggest.id}, {biggest.vram_gb} GB x {biggest.max_count})",
    )


def affordable(pool: Pool, stock: Stock | None, max_price: float | None) -> bool:
    """Within the user's ceiling per GPU-hour (a pool without a known price never is, under a ceiling)."""
    return max_price is None or _price(pool, stock) <= max_price


def _above(pool: Pool, stock: Stock | None, max_price: float | None) -> str:
    price = _price(pool, stock)
    shown = "no known price" if math.isinf(price) else f"${price:.2f}/GPU-hour"
    return f"skipped: {shown}, above max_price_per_gpu_hour ${max_price:.2f}"


def _too_pricey(
    required_gb: float, max_price: float | None, fitting: list[Pool], stock: Stock | None
) -> SelectionError:
    cheapest = min(fitting, key=lambda p: _price(p, stock))
    price = _price(cheapest, stock)
    shown = "has no known price" if math.isinf(price) else f"costs ${price:.2f}/GPU-hour"
    need = f"the model needs about {required_gb:.1f} GB" if required_gb > 0 else "before the model is sized"
    return SelectionError(
        "price_ceiling_too_low",
        f"max_price_per_gpu_hour ${max_price or 0:.2f} excludes every pool that fits ({need}; the cheapest "
        f"that fits, {cheapest.id}, {shown}): raise the ceiling or leave it out",
    )


def widen(required_gb: float, count: int, listed: list[str], stock: Stock | None, max_price: float | None) -> list[str]:
    """The next pools to add to an endpoint whose pools found no GPU: fitting, not listed yet, not out of
    stock, within the ceiling; best availability, then price, at most MAX_POOLS of them."""
    more = [
        p
        for p in pools()
        if p.id not in listed
        and count <= p.max_count
        and p.usable_gb(count) >= required_gb
        and affordable(p, stock, max_price)
        and (stock.level(p.id) if stock else None) != "NONE"
    ]
    more.sort(key=lambda p: (-rank(stock.level(p.id) if stock else None), _price(p, stock), p.vram_gb))
    return [p.id for p in more[:MAX_POOLS]]


def pool_by_id(pool_id: str) -> Pool | None:
    return next((p for p in pools() if p.id == pool_id), None)
