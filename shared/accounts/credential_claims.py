"""A stored credential is never deleted under a deployment that is being created with it.

DELETE /v1/credentials/{id} refuses while deployments use the credential (a query on deployments), but a
create that has read the credential and not yet inserted its deployment is invisible to that query: both
would succeed, and the new deployment would be left with no key, not even to delete its endpoint. So a
create first *claims* the credential and a delete first *marks* it, each one atomic write on the
credential's document that fails when the other's is there: whichever is written first wins.
"""

from __future__ import annotations

from datetime import datetime

from shared.platform.clock import iso, parse
from shared.services import Services
from shared.store.base import Doc

CREDENTIALS = "credentials"
CLAIM_STALE_SECONDS = 120  # a claim left by a crashed create stops blocking deletes after this


def _fresh_claims(doc: Doc, now: datetime) -> dict[str, str]:
    claims: dict[str, str] = doc.get("claims") or {}
    return {k: v for k, v in claims.items() if (now - parse(v)).total_seconds() < CLAIM_STALE_SECONDS}


def claim(svc: Services, cred_id: str, deployment_id: str) -> bool:
    """Record that `deployment_id` is being created with this credential; False once a delete marked it."""
    now = svc.now()

    def add(doc: Doc | None) -> Doc | None:
        if doc is None or doc.get("deleting_at"):
            return None
        return {**doc, "claims": {**_fresh_claims(doc, now), deployment_id: iso(now)}}

    doc, _ = svc.store.update(CREDENTIALS, cred_id, add)
    return doc is not None and not doc.get("deleting_at") and deployment_id in (doc.get("claims") or {})


def release(svc: Services, cred_id: str, deployment_id: str) -> None:
    """The create is over (its deployment inserted, or the create refused)."""

    def drop(doc: Doc | None) -> Doc | None:
        if doc is None or deployment_id not in (doc.get("claims") or {}):
            return None
        return {**doc, "claims": {k: v for k, v in doc["claims"].items() if k != deployment_id}}

    svc.store.update(CREDENTIALS, cred_id, drop)


def mark_deleting(svc: Services, cred_id: str) -> list[str]:
    """Mark the credential as being deleted, so no create claims it from now on. Returns the deployments
    being created with it instead (nothing marked) while any is."""
    now = svc.now()
    pending: list[str] = []

    def mark(doc: Doc | None) -> Doc | None:
        pending.clear()
        if doc is None:
            return None
        pending.extend(sorted(_fresh_claims(doc, now)))
        return None if pending else {**doc, "deleting_at": iso(now), "claims": {}}

    svc.store.update(CREDENTIALS, cred_id, mark)
    return pending


def unmark(svc: Services, cred_id: str) -> None:
    """The delete was refused: the credential can be used again."""
    svc.store.update(CREDENTIALS, cred_id, lambda d: {**d, "deleting_at": None} if d and d.get("deleting_at") else None)
