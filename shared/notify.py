"""Webhook deliveries: one record per (deployment, event), retried with backoff through the queue.

The delivery id is derived from the deployment and event, so announcing twice delivers once; the
same id goes out on every retry so a receiver can de-duplicate.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from typing import Any

import httpcore

from shared import netguard, repo, signing
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
    step = attempt - int(doc.get("schedule_offset", 0))  # a redelivery starts the schedule over
    exhausted = not ok and step >= len(delays)

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
        _queue_attempt(svc, delivery_id, attempt + 1, delays[step])
    _, settled = svc.store.update(DELIVERIES, delivery_id, settle)
    if settled:
        _record_on_deployment(svc, doc, ok, exhausted, status_code, error, attempt)
    return done("delivered" if ok else "delivery failed")


def _post(svc: Services, doc: dict) -> tuple[int | None, str | None]:
    """One signed attempt. Redirects are not followed; private targets are refused unless allowed."""
    body = json.dumps(doc["payload"], separators=(",", ":"))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        **signing.headers_for(svc, doc["owner"], doc["delivery_id"], body),
    }
    allow = svc.settings.private_webhooks_allowed
    try:
        netguard.check_url(doc["url"], allow, resolver=None)
        status = netguard.post(doc["url"], body.encode(), headers, svc.settings.webhook_timeout_seconds, allow)
    except ValueError as exc:
        return None, f"refused: the URL {exc}"
    except netguard.BlockedAddress as exc:
        return None, f"refused: {exc}"
    except httpcore.TimeoutException:
        return None, "timed out"
    except (httpcore.NetworkError, httpcore.ProtocolError, httpcore.UnsupportedProtocol, OSError) as exc:
        return None, type(exc).__name__
    if 300 <= status < 400:
        return status, f"HTTP {status}: redirects are not followed"
    return status, None if 200 <= status < 300 else f"HTTP {status}"


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
        if ok and d.status == Status.WEBHOOK_FAILED:
            d.status = Status.READY  # a replay got through
        return d

    repo.mutate(svc, dep_id, change)


def list_for(svc: Services, deployment_id: str) -> list[dict[str, Any]]:
    from shared.store import Query, Where

    rows = svc.store.query(Query(DELIVERIES, where=(Where("deployment_id", "==", deployment_id),)))
    fields = ("delivery_id", "event", "status", "attempts", "last_status_code", "last_error", "created_at",
              "last_attempt_at", "delivered_at", "url")  # fmt: skip
    return sorted(({k: doc.get(k) for k in fields} for _, doc in rows), key=lambda d: d["created_at"])


def redeliver(svc: Services, deployment_id: str, delivery_id: str) -> dict[str, Any] | None:
    """Replay a delivery under the same webhook-id, with a fresh retry schedule."""
    fresh: dict[str, Any] = {}

    def reopen(doc: dict | None) -> dict | None:
        if not doc or doc["deployment_id"] != deployment_id or doc["status"] == "pending":
            return None
        fresh.update(attempt=doc["attempts"], round=int(doc.get("redeliveries", 0)) + 1)
        return {**doc, "status": "pending", "schedule_offset": doc["attempts"], "redeliveries": fresh["round"]}

    doc, changed = svc.store.update(DELIVERIES, delivery_id, reopen)
    if doc is None or doc["deployment_id"] != deployment_id:
        return None
    if changed:
        svc.queue.enqueue(
            Task(
                name=f"webhook:{delivery_id}:{fresh['attempt']}:replay{fresh['round']}",
                payload={"kind": "webhook", "delivery_id": delivery_id, "attempt": fresh["attempt"]},
            )
        )
    return {"delivery_id": delivery_id, "status": "pending"}
