"""What the store holds, counted for GET /metrics at scrape time: the same answer on every instance
(unlike the per-process tallies of shared.platform.tally)."""

from __future__ import annotations

from collections import Counter

from shared.deploy.delivery_records import DELIVERIES
from shared.schemas.states import Status
from shared.schemas.stored import DEPLOYMENTS
from shared.services import Services
from shared.store import Query, Where

DELIVERY_STATUSES = ("pending", "delivered", "failed", "superseded")
# `deleted` is left out: it only grows, and counting it would read every deployment ever made.
COUNTED_STATUSES = tuple(s for s in Status if s is not Status.DELETED)


def _count(svc: Services, collection: str, field: str, value: str) -> int:
    return len(svc.store.query(Query(collection, where=(Where(field, "==", value),))))


def deployments_by_status(svc: Services) -> dict[str, int]:
    return {s.value: _count(svc, DEPLOYMENTS, "status", s.value) for s in COUNTED_STATUSES}


def failures_by_step_and_code(svc: Services) -> Counter[tuple[str, str]]:
    """Failed deployments (not yet deleted) by the step they failed in and their error code."""
    rows = svc.store.query(Query(DEPLOYMENTS, where=(Where("status", "==", Status.FAILED.value),)))
    found: Counter[tuple[str, str]] = Counter()
    for _, doc in rows:
        error = doc.get("error") or {}
        found[(str(error.get("step") or "unknown"), str(error.get("code") or "unknown"))] += 1
    return found


def deliveries_by_status(svc: Services) -> dict[str, int]:
    return {s: _count(svc, DELIVERIES, "status", s) for s in DELIVERY_STATUSES}
