"""Webhook deliveries: one record per (deployment, event), retried with backoff through the queue.

The delivery id is derived from the deployment and event, so announcing twice delivers once; the
same id goes out on every retry so a receiver can de-duplicate.

Order: every announcement takes the deployment's next sequence number (one atomic update of a
per-deployment counter, idempotent per event) and the payload carries it with the event's time. An
attempt of an event that a later event of the same deployment has superseded is not sent: the
delivery ends `superseded` (a receiver never gets `ready` again after `deleted`). Only an explicit
redelivery sends a superseded event, with its original sequence number.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from typing import Any

import httpcore

from shared.deploy import records
from shared.deploy.engine import Outcome, done, not_yet
from shared.deploy.states import Status, can_move
from shared.platform.clock import iso, later, parse
from shared.queue import Task
from shared.schemas.stored import Deployment
from shared.services import Services
from shared.store import Query, Where
from shared.webhooks import signing, ssrf_guard

log = logging.getLogger(__name__)

DELIVERIES = "webhook_deliveries"
SEQUENCES = "webhook_sequences"  # per deployment: the last sequence number and which event holds which
USER_AGENT = "deployment-orchestrator-webhooks/1"
DELETED = "deployment.deleted"
# The status a payload reports is the event's own, not whatever the record said when it was built.
EVENT_STATUS = {"deployment.ready": "ready", "deployment.failed": "failed", DELETED: "deleted"}


class Unattemptable(Exception):
    """The delivery cannot be attempted at all (bad URL, no signing secret): it fails at once."""


def delivery_id_for(deployment_id: str, event: str) -> str:
    return "whd_" + hashlib.sha256(f"{deployment_id}|{event}".encode()).hexdigest()[:24]


def payload_for(dep: Deployment, event: str, sequence: int | None = None, occurred_at: str | None = None) -> dict:
    duration = None
    if dep.ready_at is not None:
        duration = round((dep.ready_at - dep.created_at).total_seconds(), 3)
    return {
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
    }


# ---- sequence numbers -------------------------------------------------------------------------


def _sequence_for(svc: Services, deployment_id: str, event: str) -> int:
    """The event's sequence number: the next one the first time, the same one on a repeated announcement."""

    def take(doc: dict | None) -> dict | None:
        doc = doc or {"deployment_id": deployment_id, "last": 0, "events": []}
        if any(e["event"] == event for e in doc["events"]):
            return None
        n = int(doc["last"]) + 1
        return {**doc, "last": n, "events": [*doc["events"], {"event": event, "sequence": n}]}

    doc, _ = svc.store.update(SEQUENCES, deployment_id, take)
    return next(e["sequence"] for e in (doc or {}).get("events", []) if e["event"] == event)


def _superseding(svc: Services, delivery: dict) -> str | None:
    """The later event that makes this delivery stale, if any. Nothing comes after `deployment.deleted`."""
    if delivery["event"] == DELETED:
        return None
    doc = svc.store.get(SEQUENCES, delivery["deployment_id"]) or {}
    mine = int(delivery.get("sequence") or 0)
    others = [e for e in doc.get("events", []) if e["event"] != delivery["event"]]
    if any(e["event"] == DELETED for e in others):
        return DELETED
    newer = [e for e in others if e["sequence"] > mine]
    return max(newer, key=lambda e: e["sequence"])["event"] if newer else None


# ---- announcing -------------------------------------------------------------------------------


def announce(svc: Services, dep: Deployment | None, event: str, inline: bool = False) -> bool | None:
    """Record a delivery and queue it. With `inline`, try once now and say whether it arrived.

    The payload is built from the record as stored now (not the caller's copy, which may predate the
    final write); `deployment.deleted` is announced only once the record really says deleted.
    Inline (the worker's ready callback), nothing here may break the caller's state change: a failure
    is logged and answered False, and the queued attempt retries.
    """
    if dep is None:
        return None
    if not inline:
        _record(svc, dep, event, 0.0)
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


def _record(svc: Services, dep: Deployment, event: str, first_delay: float, tag: str = "") -> str | None:
    """Create the delivery (once, with its sequence number), queue its first attempt; its id."""
    fresh = records.load(svc, dep.deployment_id) or dep
    if event == DELETED and fresh.status != Status.DELETED:
        return None  # the runner that commits the deletion announces it
    did = delivery_id_for(dep.deployment_id, event)
    if svc.store.get(DELIVERIES, did) is None:
        sequence = _sequence_for(svc, dep.deployment_id, event)
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
    _queue_attempt(svc, did, 0, first_delay, tag)
    _supersede_older(svc, did)
    return did


# ---- the reconciler's backstop -----------------------------------------------------------------

EVENT_OF_STATUS = {Status.READY: "deployment.ready", Status.WEBHOOK_FAILED: "deployment.ready",
                   Status.FAILED: "deployment.failed"}  # fmt: skip
RESCUE_GRACE_SECONDS = 120.0


def rescue(svc: Services, dep: Deployment) -> str | None:
    """Announcements are made after the state change they report: a crash in between loses them, and so
    does one between recording a delivery and queueing its first attempt. For a deployment quiet for a
    while, announce its status's event if it never was, and queue again a pending delivery whose attempt
    task is overdue. Both are idempotent (one delivery per event; an attempt runs once). Returns what it did."""
    event = EVENT_OF_STATUS.get(dep.status)
    now = svc.now()
    if event is None or (now - dep.updated_at).total_seconds() < RESCUE_GRACE_SECONDS:
        return None
    did = delivery_id_for(dep.deployment_id, event)
    doc = svc.store.get(DELIVERIES, did)
    tag = f":rescue-{secrets.token_hex(4)}"  # the lost task's name may still be taken (the queue de-duplicates)
    if doc is None:
        _record(svc, dep, event, 0.0, tag)
        return "announced"
    if doc["status"] != "pending" or (doc.get("lease_until") and parse(doc["lease_until"]) > now):
        return None
    delays = svc.settings.webhook_retry_delays
    step = max(0, int(doc["attempts"]) - 1 - int(doc.get("schedule_offset", 0)))
    due_by = (delays[step] if doc["attempts"] and step < len(delays) else 0.0) + RESCUE_GRACE_SECONDS
    last = parse(doc.get("last_attempt_at") or doc["created_at"])
    if (now - last).total_seconds() < due_by:
        return None
    _queue_attempt(svc, did, int(doc["attempts"]), 0.0, tag)
    return "requeued"


def _supersede_older(svc: Services, delivery_id: str) -> None:
    """Mark every older delivery of the deployment that still waits for a retry as superseded."""
    doc = svc.store.get(DELIVERIES, delivery_id)
    if doc is None or _superseding(svc, doc):
        return  # a stale event supersedes nothing
    now = svc.now()
    rows = svc.store.query(Query(DELIVERIES, where=(Where("deployment_id", "==", doc["deployment_id"]),)))
    for other_id, other in rows:
        if other_id == delivery_id or other.get("status") != "pending" or other["event"] == DELETED:
            continue
        if int(other.get("sequence") or 0) >= int(doc.get("sequence") or 0) and doc["event"] != DELETED:
            continue

        def drop(cur: dict | None) -> dict | None:
            if not cur or cur["status"] != "pending" or cur.get("replay_attempt") == cur["attempts"]:
                return None  # settled meanwhile, or an explicit redelivery waits to go out
            if cur.get("lease_until") and parse(cur["lease_until"]) > now:
                return None  # in flight: its own settle sees the later event
            return {**cur, "status": "superseded", "superseded_by": doc["event"], "last_error": _why(doc["event"])}

        _, dropped = svc.store.update(DELIVERIES, other_id, drop)
        if dropped:
            records.log(svc, other["deployment_id"], "INFO", f"Webhook {other['event']} {_why(doc['event'])}")


def _why(event: str) -> str:
    return f"superseded by {event}; not sent again"


def _queue_attempt(svc: Services, delivery_id: str, attempt: int, delay: float, tag: str = "") -> None:
    svc.queue.enqueue(
        Task(
            name=f"webhook:{delivery_id}:{attempt}{tag}",
            payload={"kind": "webhook", "delivery_id": delivery_id, "attempt": attempt},
            delay_seconds=delay,
        )
    )


# ---- attempts ---------------------------------------------------------------------------------


def deliver(svc: Services, delivery_id: str, attempt: int) -> Outcome:
    """Attempt number `attempt` of a delivery; a task for any other attempt is a no-op."""
    now = svc.now()
    lease = secrets.token_hex(8)
    current = svc.store.get(DELIVERIES, delivery_id)
    stale_by = _superseding(svc, current) if current else None

    def claim(doc: dict | None) -> dict | None:
        if not doc or doc["status"] != "pending" or doc["attempts"] != attempt:
            return None
        if doc.get("lease_until") and parse(doc["lease_until"]) > now:
            return None
        if stale_by and doc.get("replay_attempt") != attempt:
            return {**doc, "status": "superseded", "superseded_by": stale_by, "last_error": _why(stale_by)}
        return {**doc, "lease": lease, "lease_until": iso(later(now, svc.settings.webhook_timeout_seconds + 30))}

    doc, claimed = svc.store.update(DELIVERIES, delivery_id, claim)
    if not claimed or doc is None:
        if doc and doc["status"] == "pending" and doc["attempts"] == attempt:
            return not_yet("another delivery attempt is in flight", 5)
        return done("stale webhook task")
    if doc["status"] == "superseded":
        records.log(svc, doc["deployment_id"], "INFO", f"Webhook {doc['event']} {_why(stale_by or '')}")
        return done("superseded")

    permanent = False
    try:
        status_code, error = _post(svc, doc)
    except Unattemptable as exc:
        status_code, error, permanent = None, f"not sent: {exc}", True
    except Exception as exc:  # never leave a delivery pending behind a crash
        log.exception("webhook attempt of %s crashed", delivery_id)
        status_code, error = None, f"internal error ({type(exc).__name__})"
    ok = status_code is not None and 200 <= status_code < 300
    delays = svc.settings.webhook_retry_delays
    step = attempt - int(doc.get("schedule_offset", 0))  # a redelivery of a settled one starts the schedule over
    exhausted = not ok and (permanent or step >= len(delays))
    stale_now = None if ok or exhausted else _superseding(svc, doc)  # no retries of a stale event
    outcome = "delivered" if ok else "failed" if exhausted else "superseded" if stale_now else "pending"

    def settle(cur: dict | None) -> dict | None:
        if not cur or cur.get("lease") != lease:
            return None
        return {
            **cur,
            "attempts": attempt + 1,
            "status": outcome,
            "superseded_by": stale_now or cur.get("superseded_by"),
            "last_status_code": status_code,
            "last_error": error,
            "last_attempt_at": iso(svc.now()),
            "delivered_at": iso(svc.now()) if ok else None,
            "lease": None,
            "lease_until": None,
        }

    if outcome == "pending":
        _queue_attempt(svc, delivery_id, attempt + 1, delays[step])
    _, settled = svc.store.update(DELIVERIES, delivery_id, settle)
    if settled:
        _record_on_deployment(svc, {**doc, "superseded_by": stale_now}, outcome, status_code, error, attempt)
    return done("delivered" if ok else f"delivery {outcome}")


def _post(svc: Services, doc: dict) -> tuple[int | None, str | None]:
    """One signed attempt. Redirects are not followed; private targets are refused unless allowed."""
    url = doc["url"]
    if not url.isascii():
        raise Unattemptable("the URL contains non-ASCII characters; use its encoded (punycode, %-escaped) form")
    body = json.dumps(doc["payload"], separators=(",", ":"))
    try:
        signed = signing.headers_for(svc, doc["owner"], doc["delivery_id"], body)
    except signing.NoSigningSecret as exc:
        raise Unattemptable(str(exc)) from None
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT, **signed}
    allow = svc.settings.private_webhooks_allowed
    try:
        ssrf_guard.check_url(url, allow, resolver=None)
        status = ssrf_guard.post(url, body.encode(), headers, svc.settings.webhook_timeout_seconds, allow)
    except ValueError as exc:
        return None, f"refused: the URL {exc}"
    except ssrf_guard.BlockedAddress as exc:
        return None, f"refused: {exc}"
    except httpcore.TimeoutException:
        return None, "timed out"
    except (httpcore.NetworkError, httpcore.ProtocolError, httpcore.UnsupportedProtocol, OSError) as exc:
        return None, type(exc).__name__
    if 300 <= status < 400:
        return status, f"HTTP {status}: redirects are not followed"
    return status, None if 200 <= status < 300 else f"HTTP {status}"


def _record_on_deployment(svc, doc, outcome, status_code, error, attempt) -> None:
    dep_id, event = doc["deployment_id"], doc["event"]
    ok, exhausted = outcome == "delivered", outcome == "failed"
    if ok:
        records.log(svc, dep_id, "INFO", f"Webhook {event} delivered (HTTP {status_code})")
    elif exhausted:
        records.log(svc, dep_id, "ERROR", f"Webhook {event} failed after {attempt + 1} attempts ({error})")
    elif outcome == "superseded":
        why = _why(doc["superseded_by"])
        records.log(svc, dep_id, "INFO", f"Webhook {event} attempt {attempt + 1} failed ({error}); {why}")
    else:
        records.log(svc, dep_id, "WARNING", f"Webhook {event} attempt {attempt + 1} failed ({error}); will retry")
    if event != "deployment.ready" or not (ok or exhausted):
        return

    def change(d: Deployment) -> Deployment | None:
        d.webhook_delivered = ok
        if exhausted and can_move(d.status, Status.WEBHOOK_FAILED):
            d.status = Status.WEBHOOK_FAILED
        if ok and d.status == Status.WEBHOOK_FAILED:
            d.status = Status.READY  # a replay got through
        return d

    records.mutate(svc, dep_id, change)


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

    def reopen(doc: dict | None) -> dict | None:
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
        _queue_attempt(svc, delivery_id, fresh["attempt"], 0.0, tag=f":replay{fresh['round']}")
    return {"delivery_id": delivery_id, "status": "pending"}
