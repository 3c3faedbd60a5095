"""Deployment names are unique per owner: a claim document per (owner, name), taken at create and
released at delete."""

from __future__ import annotations

from datetime import datetime

from shared.deploy import records
from shared.platform.clock import iso
from shared.platform.clock import parse as parse_time
from shared.schemas.states import Status
from shared.schemas.stored import Deployment
from shared.services import Services
from shared.store.base import Doc

NAMES = "deployment_names"
CLAIM_GRACE_SECONDS = 60.0  # a claim whose deployment was never written is free after this


def _name_key(owner: str, name: str) -> str:
    return f"{owner}:{name}"


def claim_name(svc: Services, owner: str, name: str, deployment_id: str) -> bool:
    """Names are unique per owner: one document per (owner, name) naming the deployment that holds it.

    A released claim, one whose deployment is being deleted, or one whose deployment was never written
    (a create that crashed between claim and insert) is taken over by compare-and-set on its holder.
    """
    key = _name_key(owner, name)
    now = svc.now()
    mine = {"owner": owner, "deployment_id": deployment_id, "claimed_at": iso(now)}
    for _ in range(4):
        current = svc.store.get(NAMES, key)
        holder: str | None = (current or {}).get("deployment_id")
        if current is not None and holder and not _claim_is_stale(svc, current, now):
            return holder == deployment_id

        def take(doc: Doc | None, holder: str | None = holder) -> Doc | None:
            if doc is not None and doc.get("deployment_id") != holder:
                return None  # someone else changed it since we looked: look again
            return mine

        _, taken = svc.store.update(NAMES, key, take)
        if taken:
            return True
    return False


def _claim_is_stale(svc: Services, claim: Doc, now: datetime) -> bool:
    dep = records.load(svc, claim["deployment_id"])
    if dep is not None:
        return dep.status in (Status.DELETING, Status.CLEANUP_FAILED, Status.DELETED)
    try:
        claimed_at = parse_time(claim["claimed_at"])
    except (KeyError, TypeError, ValueError):
        return True
    return (now - claimed_at).total_seconds() > CLAIM_GRACE_SECONDS


def release_name(svc: Services, dep: Deployment) -> None:
    """Release the deployment's name, only if this deployment still holds it (a repeated DELETE of an old
    deployment must not free the name a newer one now owns)."""
    if not dep.deployment_name:
        return

    def release(doc: Doc | None) -> Doc | None:
        if doc is None or doc.get("deployment_id") != dep.deployment_id:
            return None
        return {"owner": dep.owner, "deployment_id": None, "released_at": iso(svc.now())}

    svc.store.update(NAMES, _name_key(dep.owner, dep.deployment_name), release)
