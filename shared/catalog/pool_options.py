"""The GPU choice a create form offers: every pool, how many of its GPUs a model needs and what that costs.

`gpu_pools.select` picks for a deployment; this lists the alternatives (same headroom rule) so a person can
see the VRAM estimate next to each pool's price before choosing a `gpu_tier`.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.catalog.gpu_pools import Pool, pools

GPU_COUNTS = (1, 2, 4, 8)


@dataclass(frozen=True)
class PoolOption:
    pool: str
    gpus: tuple[str, ...]
    vram_gb: int
    gpu_count: int | None  # GPUs per worker the model needs here; None: it does not fit
    price_per_gpu_hour: float | None
    price_per_hour: float | None  # for gpu_count GPUs (one when nothing is known about the model)

    @property
    def fits(self) -> bool:
        return self.gpu_count is not None


def gpus_needed(pool: Pool, required_gb: float | None) -> int | None:
    """The fewest GPUs of `pool` whose usable memory holds `required_gb` (1 when the need is unknown)."""
    if required_gb is None:
        return 1
    return next((n for n in GPU_COUNTS if n <= pool.max_count and pool.usable_gb(n) >= required_gb), None)


def options(required_gb: float | None) -> list[PoolOption]:
    """Every pool; those that fit first, cheapest first."""
    found = []
    for pool in pools():
        count = gpus_needed(pool, required_gb)
        price = pool.price_per_gpu_hour
        per_hour = round(price * count, 4) if price is not None and count is not None else None
        found.append(PoolOption(pool.id, pool.gpus, pool.vram_gb, count, price, per_hour))
    return sorted(found, key=lambda o: (not o.fits, o.price_per_hour is None, o.price_per_hour or 0.0, o.vram_gb))
