"""Idempotency-Key for POST /v1/deployments: the same key and body give the same deployment.

A key is kept RETENTION_SECONDS (`expire_at`: Firestore's TTL policy deletes it, the embedded default
prunes expired rows when new keys come); an expired key counts as unused. A key left pending past
STALE_PENDING_SECONDS (its holder died) is taken over with a compare-and-set on its holder, so two
takeovers at once cannot both run the create.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable
from datetime import datetime
from typing import Any

from shared.accounts.expiry import prune_expired
from shared.platform.clock import iso, later, parse
from shared.platform.errors import ConflictError, ValidationError
from shared.services import Services
from shared.store.base import Doc

KEYS = "idempotency_keys"
RETENTION_SECONDS = 24 * 3600
STALE_PENDING_SECONDS = 60


def body_hash(data: Doc) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _in_progress() -> ConflictError:
    return ConflictError("A request with this Idempotency-Key is in progress", headers={"Retry-After": "1"})


def _mark(doc: Doc | None) -> tuple[Any, Any] | None:
    """What identifies one holding of a key."""
    return None if doc is None else (doc.get("holder"), doc.get("started_at"))


def _expired(doc: Doc, now: datetime) -> bool:
    return bool(doc.get("expire_at")) and parse(doc["expire_at"]) <= now


def once(svc: Services, tenant_id: str, key: str, fingerprint: str, work: Callable[[], Doc]) -> tuple[Doc, bool]:
    """Run `work` once per (tenant, key); replay its stored answer after. Returns (answer, replayed)."""
    if not 1 <= len(key) <= 255:
        raise ValidationError("Idempotency-Key must be 1 to 255 characters", {"header": "Idempotency-Key"})
    doc_id = hashlib.sha256(f"{tenant_id}|{key}".encode()).hexdigest()
    now = svc.now()
    holder = secrets.token_hex(8)
    fresh = {"body_hash": fingerprint, "state": "pending", "started_at": iso(now), "holder": holder,
             "expire_at": iso(later(now, RETENTION_SECONDS))}  # fmt: skip
    if not svc.store.create(KEYS, doc_id, fresh):
        seen = svc.store.get(KEYS, doc_id)  # None: its holder failed and released it just now
        if seen is not None and not _expired(seen, now):
            if seen.get("body_hash") != fingerprint:
                raise ConflictError("Idempotency-Key was already used with a different request body")
            if seen.get("state") == "done":
                return seen["answer"], True
            if (now - parse(seen["started_at"])).total_seconds() < STALE_PENDING_SECONDS:
                raise _in_progress()
        mark = _mark(seen)

        def take_over(cur: Doc | None) -> Doc | None:
            # Only if it is still what we saw: another takeover may have won meanwhile.
            return fresh if cur is None or _mark(cur) == mark else None

        _, taken = svc.store.update(KEYS, doc_id, take_over)
        if not taken:
            raise _in_progress()
    prune_expired(svc, KEYS)  # a new claim, now and then: drop the keys past their retention
    try:
        answer = work()
    except BaseException:
        svc.store.delete(KEYS, doc_id)  # nothing was created: let the client retry with the same key
        raise

    def finish(cur: Doc | None) -> Doc | None:
        if cur is not None and cur.get("holder") != holder:
            return None  # taken over meanwhile (we outlived STALE_PENDING_SECONDS): keep theirs
        return {**(cur or fresh), "state": "done", "answer": answer}

    svc.store.update(KEYS, doc_id, finish)
    return answer, False
