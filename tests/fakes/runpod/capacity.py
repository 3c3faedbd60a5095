"""Per-pool capacity and cold starts: where a worker lands, when it is throttled, when it is ready.

Off by default (the fake's old behaviour: a worker is initializing for `ready_after_seconds`, then
idle, whatever its pools). `simulate_capacity` turns it on: an endpoint's worker is placed on the
first of its pools (in priority order) that has stock in the endpoint's data centers and a free
slot (`pool_capacity`, unlimited unless set); with none it stays throttled, and it is tried again
on every look (a PATCH that widens the pools, or stock that returns, lets it start). A placed
worker is ready after its pool's cold start (`cold_starts`, else `ready_after_seconds`) divided by
`time_scale`; it frees its slot when the endpoint scales to zero or is deleted.
"""

from __future__ import annotations

import math
import time

from tests.fakes.runpod.state import DATA_CENTERS, RunpodState


class CapacitySim(RunpodState):
    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.capacity_sim = False
        self.time_scale = 1.0  # simulated seconds per wall second
        self.cold_starts: dict[str, float] = {}  # pool -> simulated seconds from placement to ready
        self.pool_capacity: dict[str, int] = {}  # pool -> workers it can hold at once (absent: unlimited)
        self._placed: dict[str, tuple[str, float]] = {}  # endpoint id -> (pool, when its worker was placed)
        self.placements: list[tuple[str, str]] = []  # (endpoint id, pool) of every placement, in order

    def simulate_capacity(
        self,
        cold_starts: dict[str, float] | None = None,
        capacity: dict[str, int] | None = None,
        time_scale: float = 1.0,
    ) -> None:
        """Turn the capacity model on, with per-pool cold starts (simulated seconds) and slots."""
        with self.lock:
            self.capacity_sim, self.time_scale = True, time_scale
            self.cold_starts.update(cold_starts or {})
            self.pool_capacity.update(capacity or {})

    def set_pool_capacity(self, pool: str, workers: int | None) -> None:
        """How many workers `pool` can hold at once (None: unlimited while it has stock)."""
        with self.lock:
            if workers is None:
                self.pool_capacity.pop(pool, None)
            else:
                self.pool_capacity[pool] = workers

    def placed_pool(self, endpoint_id: str) -> str | None:
        """The pool the endpoint's worker was placed on, if it was."""
        with self.lock:
            placed = self._placed.get(endpoint_id)
            return placed[0] if placed else None

    def _started_state(self, endpoint_id: str, since: float) -> str:
        if not self.capacity_sim:
            return super()._started_state(endpoint_id, since)
        placed = self._placed.get(endpoint_id) or self._place(endpoint_id)
        if placed is None:
            return "throttled"
        pool, at = placed
        cold = self.cold_starts.get(pool, self.ready_after_seconds) / self.time_scale
        return "initializing" if time.monotonic() - at < cold else "idle"

    def _place(self, endpoint_id: str) -> tuple[str, float] | None:
        endpoint = self.endpoints.get(endpoint_id) or {}
        data_centers = endpoint.get("dataCenterIds") or list(DATA_CENTERS)
        for pool in (endpoint.get("gpu") or {}).get("pools") or []:
            if self._free_slots(pool, data_centers) > 0:
                self._placed[endpoint_id] = (pool, time.monotonic())
                self.placements.append((endpoint_id, pool))
                return self._placed[endpoint_id]
        return None

    def _free_slots(self, pool: str, data_centers: list[str]) -> float:
        levels = self.availability.get(pool)
        if levels is not None and all(levels.get(dc, "NONE") == "NONE" for dc in data_centers):
            return 0
        used = sum(1 for placed, _ in self._placed.values() if placed == pool)
        return self.pool_capacity.get(pool, math.inf) - used

    def _cool(self, endpoint_id: str) -> None:
        super()._cool(endpoint_id)
        self._placed.pop(endpoint_id, None)
