"""Rows kept only for a while (rate-limit counters, idempotency keys) carry `expire_at`; this drops the expired.

On Firestore a TTL policy on `expire_at` does it (infra/locals.tf ttl_fields), and the field is not indexed
there, so the query below is made only on the embedded default.
"""

from __future__ import annotations

from shared.platform.clock import iso
from shared.services import Services
from shared.store import Query, Where

PRUNE_BATCH = 200


def prune_expired(svc: Services, collection: str) -> int:
    """Delete up to PRUNE_BATCH rows of `collection` whose `expire_at` has passed (embedded default only)."""
    if svc.settings.orchestrator_backend != "local":
        return 0
    rows = svc.store.query(Query(collection, where=(Where("expire_at", "<", iso(svc.now())),), limit=PRUNE_BATCH))
    for doc_id, _ in rows:
        svc.store.delete(collection, doc_id)
    return len(rows)
