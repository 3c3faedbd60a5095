"""Announcing deployment events as webhooks, the reconciler's backstop, and the delivery log.

`announce` records one delivery per (deployment, event) with its sequence number and queues its first
attempt (`shared.deploy.delivery_records`); the attempts themselves are `shared.deploy.delivery_attempts`
(`deliver`, re-exported here for the step function's handler). The payload carries the event's
sequence number and time, so a receiver can order what it gets. A deployment created without a
webhook URL gets no deliveries at all (its log says so): the SSE stream and polling serve its owner.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

from shared.deploy import records
from shared.deploy.delivery_attempts import deliver
from shared.deploy.delivery_records import (
    DELETED,
    DELIVERIES,
    delivery_id_for,
    queue_attempt,
    sequence_for,
    superseding,
    why_superseded,
)
from shared.platform.clock import iso, parse
from shared.schemas.states import Status
from shared.schemas.stored import Deployment
from shared.services import Services
from shared.store import Query, Where
from shared.store.base import Doc

__all__ = ["announce", "deliver", "list_for", "payload_for", "redeliver", "rescue"]

log = logging.getLogger(__name__)

# The status a payload reports is the event's own, not whatever the record said when it was built.
UPDATE_EVENTS = frozenset({"deployment.updated", "deployment.update_failed"})
EVENT_STATUS = {"deployment.ready": "ready", "deployment.failed": "failed", DELETED: "deleted"}


def payload_for(dep: Deployment, event: str, sequence: int | None = None, occurred_at: str | None = None) -> Doc:
    duration = None
    if dep.ready_at is not None:
        duration = round((dep.ready_at - dep.created_at).total_seconds(), 3)
    body: Doc = {
        "event": event,
        "deployment_id": dep.deployment_id,
        "status": EVENT_STATUS.get(event, dep.status.value),
        "endpoint_url": dep.endpoint_url,
        "model_id": dep.model_id,
        "gpu_allocated": dep.gpu_allocated,
        "duration": duration,
        "error": dep.error.model_dump() if dep.error else None,
        "created_at": iso(dep.created_at),
        "ready_at": iso(dep.ready_at) if dep.ready_at else None,
        "occurred_at": occurred_at,
        "sequence": sequence,
        "sandbox": dep.sandbox,
    }
    if event.startswith("deployment.budget_"):  # the limits, the spend so far and the action taken
        body["budget"] = dep.budget.model_dump() if dep.budget else None
        body["budget_state"] = dep.budget_state.model_dump(mode="json") if dep.budget_state else None
    if event in UPDATE_EVENTS:  # which generation serves now; why the update failed
        body["generation"] = dep.generation
        failed = event == "deployment.update_failed" and dep.last_update_error is not None
        body["error"] = dep.last_update_error.model_dump() if failed and dep.last_update_error else None
    return body


def announce(
    svc: Services, dep: Deployment | None, event: str, inline: bool = False, occurrence: str = ""
) -> bool | None:
    """Record a delivery and queue it. With `inline`, try once now and say whether it arrived.

    The payload is built from the record as stored now (not the caller's copy, which may predate the
    final write); `deployment.deleted` is announced only once the record really says deleted.
    Inline (the worker's ready callback), nothing here may break the caller's state change: a failure
    is logged and answered False, and the queued attempt retries.
    """
    if dep is None:
        return None
    if not inline:
        _record(svc, dep, event, 0.0, occurrence=occurrence)
        return None
    delays = svc.settings.webhook_retry_delays
    try:
        did = _record(svc, dep, event, delays[0] if delays else 0.0)
        if did is None:
            return None
        deliver(svc, did, 0)
        doc = svc.store.get(DELIVERIES, did)
    except Exception:
        log.exception("inline webhook %s of %s failed", event, dep.deployment_id)
        return False
    return bool(doc and doc["status"] == "delivered")


def _record(
    svc: Services, dep: Deployment, event: str, first_delay: float, tag: str = "", occurrence: str = ""
) -> str | None:
    """Create the delivery (once, with its sequence number), queue its first attempt; its id.

    An event that may happen more than once (an update) names its `occurrence` (one delivery each)."""
    fresh = records.load(svc, dep.deployment_id) or dep
    if event == DELETED and fresh.status != Status.DELETED:
        return None  # the runner that commits the deletion announces it
    if not fresh.webhook_url:
        records.log(svc, dep.deployment_id, "INFO", f"No webhook configured: {event} is not sent")
        return None
    key = f"{event}#{occurrence}" if occurrence else event
    did = delivery_id_for(dep.deployment_id, key)
    if svc.store.get(DELIVERIES, did) is None:
        sequence = sequence_for(svc, dep.deployment_id, key)
        svc.store.create(
            DELIVERIES,
            did,
            {
                "delivery_id": did,
                "deployment_id": dep.deployment_id,
                "owner": dep.owner,
                "event": event,
                "sequence": sequence,
                "url": fresh.webhook_url,
                "payload": payload_for(fresh, event, sequence, iso(svc.now())),
                "status": "pending",
                "attempts": 0,
                "created_at": iso(svc.now()),
            },
        )
    queue_attempt(svc, did, 0, first_delay, tag)
    _supersede_older(svc, did)
    return did


def _supersede_older(svc: Services, delivery_id: str) -> None:
    """Mark every older delivery of the deployment that still waits for a retry as superseded."""
    doc = svc.store.get(DELIVERIES, delivery_id)
    if doc is None or superseding(svc, doc):
        return  # a stale event supersedes nothing
    now = svc.now()
    rows = svc.store.query(Query(DELIVERIES, where=(Where("deployment_id", "==", doc["deployment_id"]),)))
    for other_id, other in rows:
        if other_id == delivery_id or other.get("status") != "pending" or other["event"] == DELETED:
            continue
        if int(other.get("sequence") or 0) >= int(doc.get("sequence") or 0) and doc["event"] != DELETED:
            continue

        def drop(cur: Doc | None) -> Doc | None:
            if not cur or cur["status"] != "pending" or cur.get("replay_attempt") == cur["attempts"]:
                return None  # settled meanwhile, or an explicit redelivery waits to go out
            if cur.get("lease_until") and parse(cur["lease_until"]) > now:
                return None  # in flight: its own settle sees the later event
            why = why_superseded(doc["event"])
            return {**cur, "status": "superseded", "superseded_by": doc["event"], "last_error": why}

        _, dropped = svc.store.update(DELIVERIES, other_id, drop)
        if dropped:
            records.log(svc, other["deployment_id"], "INFO", f"Webhook {other['event']} {why_superseded(doc['event'])}")


# ---- the reconciler's backstop -----------------------------------------------------------------

EVENT_OF_STATUS = {Status.READY: "deployment.ready", Status.WEBHOOK_FAILED: "deployment.ready",
                   Status.FAILED: "deployment.failed", Status.DELETED: "deployment.deleted"}  # fmt: skip
RESCUE_GRACE_SECONDS = 120.0


def _latest_event(dep: Deployment) -> tuple[str | None, str]:
    """The last event the record says happened: its status's, or (serving, no update running) the end
    of its latest update, as (event, occurrence)."""
    event = EVENT_OF_STATUS.get(dep.status)
    ends = []
    if dep.generation > 1 and dep.generations and dep.generations[-1].serving_at is not None:
        ends.append((dep.generations[-1].serving_at, "deployment.updated", f"g{dep.generation}"))
    if dep.failed_updates:
        ends.append((dep.failed_updates[-1].at, "deployment.update_failed", f"g{dep.failed_updates[-1].generation}"))
    if event == "deployment.ready" and dep.update is None and ends:
        _, event, occurrence = max(ends)
        return event, occurrence
    return event, ""


def rescue(svc: Services, dep: Deployment) -> str | None:
    """Announcements are made after the state change they report: a crash in between loses them, and so
    does one between recording a delivery and queueing its first attempt. For a deployment quiet for a
    while, announce its status's event if it never was, and queue again a pending delivery whose attempt
    task is overdue. Both are idempotent (one delivery per event; an attempt runs once). Returns what it did."""
    event, occurrence = _latest_event(dep)
    now = svc.now()
    if event is None or not dep.webhook_url or (now - dep.updated_at).total_seconds() < RESCUE_GRACE_SECONDS:
        return None
    did = delivery_id_for(dep.deployment_id, f"{event}#{occurrence}" if occurrence else event)
    doc = svc.store.get(DELIVERIES, did)
    tag = f":rescue-{secrets.token_hex(4)}"  # the lost task's name may still be taken (the queue de-duplicates)
    if doc is None:
        _record(svc, dep, event, 0.0, tag, occurrence)
        return "announced"
    if doc["status"] != "pending" or (doc.get("lease_until") and parse(doc["lease_until"]) > now):
        return None
    delays = svc.settings.webhook_retry_delays
    step = max(0, int(doc["attempts"]) - 1 - int(doc.get("schedule_offset", 0)))
    due_by = (delays[step] if doc["attempts"] and step < len(delays) else 0.0) + RESCUE_GRACE_SECONDS
    last = parse(doc.get("last_attempt_at") or doc["created_at"])
    if (now - last).total_seconds() < due_by:
        return None
    queue_attempt(svc, did, int(doc["attempts"]), 0.0, tag)
    return "requeued"


# ---- the delivery log and replays -------------------------------------------------------------


def list_for(svc: Services, deployment_id: str) -> list[dict[str, Any]]:
    rows = svc.store.query(Query(DELIVERIES, where=(Where("deployment_id", "==", deployment_id),)))
    fields = ("delivery_id", "event", "sequence", "status", "attempts", "last_status_code", "last_error",
              "superseded_by", "created_at", "last_attempt_at", "delivered_at", "url")  # fmt: skip
    return sorted(({k: doc.get(k) for k in fields} for _, doc in rows), key=lambda d: d["created_at"])


def redeliver(svc: Services, deployment_id: str, delivery_id: str) -> dict[str, Any] | None:
    """Send a delivery now under the same webhook-id; retries then follow the schedule from there.

    The replay is simply the delivery's next attempt, sent at once: a retry already scheduled for that
    attempt finds it taken and is a no-op, so there is never a second schedule running alongside.
    A settled delivery (delivered, failed, superseded) is reopened with a fresh schedule.
    """
    now = svc.now()
    fresh: dict[str, Any] = {}

    def reopen(doc: Doc | None) -> Doc | None:
        if not doc or doc["deployment_id"] != deployment_id:
            return None
        if doc["status"] == "pending" and doc.get("lease_until") and parse(doc["lease_until"]) > now:
            return None  # an attempt is being sent right now
        fresh.update(attempt=doc["attempts"], round=int(doc.get("redeliveries", 0)) + 1)
        reopened = {**doc, "replay_attempt": doc["attempts"], "redeliveries": fresh["round"]}
        if doc["status"] != "pending":
            reopened.update(status="pending", schedule_offset=doc["attempts"])
        return reopened

    doc, changed = svc.store.update(DELIVERIES, delivery_id, reopen)
    if doc is None or doc["deployment_id"] != deployment_id:
        return None
    if changed:
        queue_attempt(svc, delivery_id, fresh["attempt"], 0.0, tag=f":replay{fresh['round']}")
    return {"delivery_id": delivery_id, "status": "pending"}
