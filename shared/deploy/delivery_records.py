"""Webhook delivery records: their ids, their order per deployment, and queueing an attempt.

The delivery id is derived from the deployment and event, so announcing twice delivers once; the
same id goes out on every retry so a receiver can de-duplicate.

Order: every announcement takes the deployment's next sequence number (one atomic update of a
per-deployment counter, idempotent per event). An event is superseded once a later event of the same
deployment exists; nothing comes after `deployment.deleted`.
"""

from __future__ import annotations

import hashlib

from shared.queue import Task
from shared.services import Services
from shared.store.base import Doc

DELIVERIES = "webhook_deliveries"
SEQUENCES = "webhook_sequences"  # per deployment: the last sequence number and which event holds which
DELETED = "deployment.deleted"


def delivery_id_for(deployment_id: str, event: str) -> str:
    return "whd_" + hashlib.sha256(f"{deployment_id}|{event}".encode()).hexdigest()[:24]


def sequence_for(svc: Services, deployment_id: str, event: str) -> int:
    """The event's sequence number: the next one the first time, the same one on a repeated announcement."""

    def take(doc: Doc | None) -> Doc | None:
        doc = doc or {"deployment_id": deployment_id, "last": 0, "events": []}
        if any(e["event"] == event for e in doc["events"]):
            return None
        n = int(doc["last"]) + 1
        return {**doc, "last": n, "events": [*doc["events"], {"event": event, "sequence": n}]}

    doc, _ = svc.store.update(SEQUENCES, deployment_id, take)
    return int(next(e["sequence"] for e in (doc or {}).get("events", []) if e["event"] == event))


def superseding(svc: Services, delivery: Doc) -> str | None:
    """The later event that makes this delivery stale, if any. Nothing comes after `deployment.deleted`."""
    if delivery["event"] == DELETED:
        return None
    doc = svc.store.get(SEQUENCES, delivery["deployment_id"]) or {}
    mine = int(delivery.get("sequence") or 0)
    others = [e for e in doc.get("events", []) if e["event"] != delivery["event"]]
    if any(e["event"] == DELETED for e in others):
        return DELETED
    newer = [e for e in others if e["sequence"] > mine]
    return str(max(newer, key=lambda e: e["sequence"])["event"]) if newer else None


def why_superseded(event: str) -> str:
    return f"superseded by {event}; not sent again"


def queue_attempt(svc: Services, delivery_id: str, attempt: int, delay: float, tag: str = "") -> None:
    """Queue attempt number `attempt`; `tag` makes a fresh task name when an older one may still be taken."""
    svc.queue.enqueue(
        Task(
            name=f"webhook:{delivery_id}:{attempt}{tag}",
            payload={"kind": "webhook", "delivery_id": delivery_id, "attempt": attempt},
            delay_seconds=delay,
        )
    )
