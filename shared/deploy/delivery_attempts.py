"""One attempt of a webhook delivery: claim it, POST it signed, settle it, retry on the schedule.

An attempt of an event that a later event of the same deployment has superseded is not sent: the
delivery ends `superseded` (a receiver never gets `ready` again after `deleted`). Only an explicit
redelivery sends a superseded event, with its original sequence number.
"""

from __future__ import annotations

import json
import logging
import secrets

from shared.deploy import records
from shared.deploy.delivery_records import DELIVERIES, queue_attempt, superseding, why_superseded
from shared.platform import tally
from shared.platform.clock import iso, later, parse
from shared.queue.outcome import Outcome, done, not_yet
from shared.schemas.states import Status, can_move
from shared.schemas.stored import Deployment
from shared.services import Services
from shared.store.base import Doc
from shared.webhooks import signing, ssrf_guard
from shared.webhooks.addresses import BlockedAddress

log = logging.getLogger(__name__)

USER_AGENT = "deployment-orchestrator-webhooks/1"


class Unattemptable(Exception):
    """The delivery cannot be attempted at all (bad URL, no signing secret): it fails at once."""


def deliver(svc: Services, delivery_id: str, attempt: int) -> Outcome:
    """Attempt number `attempt` of a delivery; a task for any other attempt is a no-op."""
    now = svc.now()
    lease = secrets.token_hex(8)
    current = svc.store.get(DELIVERIES, delivery_id)
    stale_by = superseding(svc, current) if current else None

    def claim(doc: Doc | None) -> Doc | None:
        if not doc or doc["status"] != "pending" or doc["attempts"] != attempt:
            return None
        if doc.get("lease_until") and parse(doc["lease_until"]) > now:
            return None
        if stale_by and doc.get("replay_attempt") != attempt:
            return {**doc, "status": "superseded", "superseded_by": stale_by, "last_error": why_superseded(stale_by)}
        return {**doc, "lease": lease, "lease_until": iso(later(now, svc.settings.webhook_timeout_seconds + 30))}

    doc, claimed = svc.store.update(DELIVERIES, delivery_id, claim)
    if not claimed or doc is None:
        if doc and doc["status"] == "pending" and doc["attempts"] == attempt:
            return not_yet("another delivery attempt is in flight", 5)
        return done("stale webhook task")
    if doc["status"] == "superseded":
        records.log(svc, doc["deployment_id"], "INFO", f"Webhook {doc['event']} {why_superseded(stale_by or '')}")
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
    tally.count("upstream_calls", service="webhook", outcome="ok" if ok else "refused" if status_code else "error")
    delays = svc.settings.webhook_retry_delays
    step = attempt - int(doc.get("schedule_offset", 0))  # a redelivery of a settled one starts the schedule over
    exhausted = not ok and (permanent or step >= len(delays))
    stale_now = None if ok or exhausted else superseding(svc, doc)  # no retries of a stale event
    outcome = "delivered" if ok else "failed" if exhausted else "superseded" if stale_now else "pending"

    def settle(cur: Doc | None) -> Doc | None:
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
        queue_attempt(svc, delivery_id, attempt + 1, delays[step])
    _, settled = svc.store.update(DELIVERIES, delivery_id, settle)
    if settled:
        _record_on_deployment(svc, {**doc, "superseded_by": stale_now}, outcome, status_code, error, attempt)
    return done("delivered" if ok else f"delivery {outcome}")


def _post(svc: Services, doc: Doc) -> tuple[int | None, str | None]:
    """One signed attempt. Redirects are not followed; private targets are refused unless allowed."""
    # The connection library and the guarded connection: kept off the cold path of every function that only enqueues.
    import httpcore

    from shared.webhooks import guarded_transport  # brings httpcore too

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
        status = guarded_transport.post(url, body.encode(), headers, svc.settings.webhook_timeout_seconds, allow)
    except ValueError as exc:
        return None, f"refused: the URL {exc}"
    except BlockedAddress as exc:
        return None, f"refused: {exc}"
    except httpcore.TimeoutException:
        return None, "timed out"
    except (httpcore.NetworkError, httpcore.ProtocolError, httpcore.UnsupportedProtocol, OSError) as exc:
        return None, type(exc).__name__
    if 300 <= status < 400:
        return status, f"HTTP {status}: redirects are not followed"
    return status, None if 200 <= status < 300 else f"HTTP {status}"


def _record_on_deployment(
    svc: Services, doc: Doc, outcome: str, status_code: int | None, error: str | None, attempt: int
) -> None:
    """The attempt in the deployment's log; for `ready`, whether the webhook got through (webhook_failed)."""
    dep_id, event = doc["deployment_id"], doc["event"]
    ok, exhausted = outcome == "delivered", outcome == "failed"
    if ok:
        records.log(svc, dep_id, "INFO", f"Webhook {event} delivered (HTTP {status_code})")
    elif exhausted:
        records.log(svc, dep_id, "ERROR", f"Webhook {event} failed after {attempt + 1} attempts ({error})")
    elif outcome == "superseded":
        why = why_superseded(doc["superseded_by"])
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
