"""Purge (the operator's `terminate?purge=true`): remove a deployment's record and its logs, only once its
endpoint is verified gone.

Only a `deleted` deployment whose cleanup recorded `endpoint_deleted_at` is purged: `deleted` is final (no
move leaves it), so nothing can bring the endpoint back between the check and the removal. A deployment
still deleting keeps `purge_requested` and is purged by the cleanup step that verifies its endpoint gone;
one whose cleanup failed is never purged (its record is what the reconciler retries from).
"""

from __future__ import annotations

from shared.deploy import records
from shared.schemas.states import Status
from shared.schemas.stored import Deployment
from shared.services import Services
from shared.store import Query

LOG_PAGE = 500


def is_gone(dep: Deployment) -> bool:
    """The endpoint was deleted and verified gone: the record may go."""
    return dep.status == Status.DELETED and dep.endpoint_deleted_at is not None


def request(svc: Services, deployment_id: str) -> Deployment | None:
    """Mark the deployment for purging (kept until its endpoint is verified gone)."""

    def mark(d: Deployment) -> Deployment | None:
        if d.purge_requested:
            return None
        d.purge_requested = True
        return d

    after, _ = records.mutate(svc, deployment_id, mark)
    return after


def purge_if_gone(svc: Services, deployment_id: str, *, requested_only: bool = False) -> bool:
    """Remove the record and its logs when its endpoint is verified gone (with requested_only, and a purge
    was asked for); False, nothing removed, otherwise."""
    dep = records.load(svc, deployment_id)
    if dep is None or not is_gone(dep) or (requested_only and not dep.purge_requested):
        return False
    coll = records.logs_of(deployment_id)
    while rows := svc.store.query(Query(coll, limit=LOG_PAGE)):
        for doc_id, _ in rows:
            svc.store.delete(coll, doc_id)
    svc.store.delete(records.DEPLOYMENTS, deployment_id)
    return True
