"""Webhook deliveries: one record per (deployment, event), retried with backoff through the queue.

The delivery id is derived from the deployment and event, so announcing twice delivers once; the
same id goes out on every retry so a receiver can de-duplicate.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from typing import Any

import httpx

from shared import repo
from shared.engine import Outcome, done, not_yet
from shared.models import Deployment
from shared.queue import Task
from shared.services import Services
from shared.states import Status, can_move
from shared.timeutil import iso, later, parse

log = logging.getLogger(__name__)

DELIVERIES = "webhook_deliveries"
USER_AGENT = "deployment-orchestrator-webhooks/1"


def delivery_id_for(deployment_id: str, event: str) -> str:
    return "whd_" + hashlib.sha256(f"{deployment_id}|{event}".encode()).hexdigest()[:24]


def payload_for(dep: Deployment, event: str) -> dict[str, Any]:
    duration = None
    if dep.ready_at is not None:
        duration = round((dep.ready_at - dep.created_at).total_seconds(), 3)
    return {
        "event": event,
        "deployment_id": dep.deployment_id,
        "status": dep.status.value,
        "endpoint_url": dep.endpoint_url,
        "model_id": dep.model_id,
        "gpu_allocated": dep.gpu_allocated,
        "duration": duration,
        "error": dep.error.model_dump() if dep.error else None,
        "created_at": iso(dep.created_at),
        "ready_at": iso(dep.ready_at) if dep.ready_at else None,
    }


def announce(svc: Services, dep: Deployment | None, event: str, inline: bool = False) -> bool | None:
    """Record a delivery and queue it. With `inline`, try once now and say whether it arrived."""
    if dep is None:
        return None
    did = delivery_id_for(dep.deployment_id, event)
    svc.store.create(
        DELIVERIES,
        did,
        {
            "delivery_id": did,
            "deployment_id": dep.deployment_id,
            "owner": dep.owner,
            "event": event,
            "url": dep.webhook_url,
            "payload": payload_for(dep, event),
            "status": "pending",
            "attempts": 0,
            "created_at": iso(svc.now()),
        },
    )
    first_retry = svc.settings.webhook_retry_delays[0] if inline and svc.settings.webhook_retry_delays else 0.0
    _queue_attempt(svc, did, 0, first_retry)
    if inline:
        deliver(svc, did, 0)
        doc = svc.store.get(DELIVERIES, did)
        return bool(doc and doc["status"] == "delivered")
    return None


def _queue_attempt(svc: Services, delivery_id: str, attempt: int, delay: float) -> None:
    svc.queue.enqueue(
        Task(
            name=f"webhook:{delivery_id}:{attempt}",
            payload={"kind": "webhook", "delivery_id": delivery_id, "attempt": attempt},
            delay_seconds=delay,
        )
    )


def deliver(svc: Services, delivery_id: str, attempt: int) -> Outcome:
    now = svc.now()
    lease = secrets.token_hex(8)

    def claim(doc: dict | None) -> dict | None:
        if not doc or doc["status"] != "pending" or doc["attempts"] != attempt:
            return None
        if doc.get("lease_until") and parse(doc["lease_until"]) > now:
            return None
        return {**doc, "lease": lease, "lease_until": iso(later(now, svc.settings.webhook_timeout_seconds + 30))}

    doc, claimed = svc.store.update(DELIVERIES, delivery_id, claim)
    if not claimed:
        if doc and doc["status"] == "pending" and doc["attempts"] == attempt:
            return not_yet("another delivery attempt is in flight", 5)
        return done("stale webhook task")

    status_code, error = _post(svc, doc)
    ok = status_code is not None and 200 <= status_code < 300
    delays = svc.settings.webhook_retry_delays
    exhausted = not ok and attempt >= len(delays)

    def settle(cur: dict | None) -> dict | None:
        if not cur or cur.get("lease") != lease:
            return None
        return {
            **cur,
            "attempts": attempt + 1,
            "status": "delivered" if ok else ("failed" if exhausted else "pending"),
            "last_status_code": status_code,
            "last_error": error,
            "last_attempt_at": iso(svc.now()),
            "delivered_at": iso(svc.now()) if ok else None,
            "lease": None,
            "lease_until": None,
        }

    if not ok and not exhausted:
        _queue_attempt(svc, delivery_id, attempt + 1, delays[attempt])
    _, settled = svc.store.update(DELIVERIES, delivery_id, settle)
    if settled:
        _record_on_deployment(svc, doc, ok, exhausted, status_code, error, attempt)
    return done("delivered" if ok else "delivery failed")


def _post(svc: Services, doc: dict) -> tuple[int | None, str | None]:
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "webhook-id": doc["delivery_id"],
    }
    try:
        with httpx.Client(timeout=svc.settings.webhook_timeout_seconds, follow_redirects=False) as client:
            resp = client.post(doc["url"], json=doc["payload"], headers=headers)
        return resp.status_code, None if resp.is_success else f"HTTP {resp.status_code}"
    except httpx.HTTPError as exc:
        return None, f"{type(exc).__name__}"


def _record_on_deployment(svc, doc, ok, exhausted, status_code, error, attempt) -> None:
    dep_id, event = doc["deployment_id"], doc["event"]
    if ok:
        repo.log(svc, dep_id, "INFO", f"Webhook {event} delivered (HTTP {status_code})")
    elif exhausted:
        repo.log(svc, dep_id, "ERROR", f"Webhook {event} failed after {attempt + 1} attempts ({error})")
    else:
        repo.log(svc, dep_id, "WARNING", f"Webhook {event} attempt {attempt + 1} failed ({error}); will retry")
    if event != "deployment.ready" or not (ok or exhausted):
        return

    def change(d: Deployment) -> Deployment | None:
        d.webhook_delivered = ok
        if exhausted and can_move(d.status, Status.WEBHOOK_FAILED):
            d.status = Status.WEBHOOK_FAILED
        return d

    repo.mutate(svc, dep_id, change)
