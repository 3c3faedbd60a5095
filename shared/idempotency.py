"""Idempotency-Key for POST /v1/deployments: the same key and body give the same deployment."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from shared.errors import ConflictError, ValidationError
from shared.services import Services
from shared.timeutil import iso, later, parse

KEYS = "idempotency_keys"
RETENTION_SECONDS = 24 * 3600
STALE_PENDING_SECONDS = 60


def body_hash(data: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def once(svc: Services, tenant_id: str, key: str, fingerprint: str, work: Callable[[], dict]) -> tuple[dict, bool]:
    """Run `work` once per (tenant, key); replay its stored answer after. Returns (answer, replayed)."""
    if not 1 <= len(key) <= 255:
        raise ValidationError("Idempotency-Key must be 1 to 255 characters", {"header": "Idempotency-Key"})
    doc_id = hashlib.sha256(f"{tenant_id}|{key}".encode()).hexdigest()
    now = svc.now()
    fresh = {"body_hash": fingerprint, "state": "pending", "started_at": iso(now),
             "expire_at": iso(later(now, RETENTION_SECONDS))}  # fmt: skip
    if not svc.store.create(KEYS, doc_id, fresh):
        doc = svc.store.get(KEYS, doc_id) or {}
        if doc.get("body_hash") != fingerprint:
            raise ConflictError("Idempotency-Key was already used with a different request body")
        if doc.get("state") == "done":
            return doc["answer"], True
        if (now - parse(doc["started_at"])).total_seconds() < STALE_PENDING_SECONDS:
            raise ConflictError("A request with this Idempotency-Key is in progress", headers={"Retry-After": "1"})
        svc.store.update(KEYS, doc_id, lambda _: fresh)  # its first holder died: take it over
    try:
        answer = work()
    except BaseException:
        svc.store.delete(KEYS, doc_id)  # nothing was created: let the client retry with the same key
        raise
    svc.store.update(KEYS, doc_id, lambda d: {**(d or fresh), "state": "done", "answer": answer})
    return answer, False
