"""One reconciler run at a time, bounded in time, continuing where the last run stopped.

A run holds a lease document (compare-and-set); a second run meanwhile does nothing. Each pass walks its
items (deployments, Runpod accounts) from a cursor saved in the store, wrapping around, so a run that
ran out of budget is continued by the next.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from shared.platform.clock import iso, later, parse
from shared.services import Services
from shared.store.base import Doc

RECONCILER = "reconciler"  # documents "lock" (the run's lease) and "cursor" (where the last run stopped)
LOCK_MARGIN_SECONDS = 60.0


@dataclass
class Budget:
    """A run's time budget (monotonic: immune to wall-clock jumps)."""

    ends: float

    @classmethod
    def of(cls, seconds: float) -> Budget:
        return cls(time.monotonic() + seconds)

    def spent(self) -> bool:
        return time.monotonic() >= self.ends


def take_lock(svc: Services, run_id: str) -> bool:
    now = svc.now()
    until = later(now, svc.settings.reconcile_time_budget_seconds + LOCK_MARGIN_SECONDS)

    def take(doc: Doc | None) -> Doc | None:
        if doc and doc.get("holder") and parse(doc["until"]) > now:
            return None  # held by a run that is still within its lease
        return {"holder": run_id, "until": iso(until), "taken_at": iso(now)}

    after, _ = svc.store.update(RECONCILER, "lock", take)
    return after is not None and after.get("holder") == run_id


def release_lock(svc: Services, run_id: str) -> None:
    svc.store.update(RECONCILER, "lock", lambda d: {**d, "holder": None} if d and d.get("holder") == run_id else None)


def saved_cursor(svc: Services, name: str) -> str:
    return (svc.store.get(RECONCILER, "cursor") or {}).get(name) or ""


def save_cursor(svc: Services, name: str, value: str) -> None:
    svc.store.update(RECONCILER, "cursor", lambda d: {**(d or {}), name: value})


def rotated(items: list[str], after: str) -> list[str]:
    """`items` (sorted) starting after `after`, wrapping around: every run moves the window on."""
    cut = next((n for n, x in enumerate(items) if x > after), 0)
    return items[cut:] + items[:cut]
