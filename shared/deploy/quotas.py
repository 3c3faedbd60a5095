"""The tier's deployment quotas (concurrent deployments, GPUs per deployment, total GPUs), without races.

A deployment's GPUs are the most it can run at once: GPUs per worker x max_replicas (GPUs per worker: the
requested `gpu_count`, 1 for auto until select_gpu has chosen). Every create, scale and GPU choice
passes through one compare-and-set on the tenant's quota document, which holds what each deployment
reserved: two creates racing for the last slot are serialized there, so at most one gets it. A live
deployment counts with what its record says (read before the compare-and-set); the document only holds
reservations whose record may not be written yet, each for a short grace, so it never drifts.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.accounts import tiers
from shared.accounts.tenants import TENANTS
from shared.platform.clock import iso
from shared.platform.clock import parse as parse_time
from shared.platform.errors import QuotaExceededError
from shared.platform.faults import Fault
from shared.schemas.states import Status
from shared.schemas.stored import DEPLOYMENTS, Deployment
from shared.services import Services
from shared.store import Query, Where
from shared.store.base import Doc

QUOTAS = "tenant_quotas"
RESERVATION_GRACE_SECONDS = 120.0  # a reservation whose deployment record is not written yet still counts
NOT_LIVE = frozenset({Status.FAILED, Status.DELETING, Status.CLEANUP_FAILED, Status.DELETED})
MAX_SCANNED = 2000


def gpus_of(dep: Deployment) -> int:
    per_worker = dep.gpu_count if dep.gpu_pools else (dep.gpu_count_requested or 1)
    return per_worker * max(dep.max_replicas, 1)


def tier_of(svc: Services, owner: str) -> str:
    """The owner's tier now; an owner without a tenant record (older data) has no quotas."""
    doc = svc.store.get(TENANTS, owner)
    return str(doc.get("tier") or "free") if doc else "enterprise"


def _live(svc: Services, owner: str) -> dict[str, int]:
    rows = svc.store.query(Query(DEPLOYMENTS, where=(Where("owner", "==", owner),), limit=MAX_SCANNED))
    live: dict[str, int] = {}
    for dep_id, doc in rows:
        dep = Deployment.model_validate(doc)
        if dep.status not in NOT_LIVE:
            live[dep_id] = gpus_of(dep)
    return live


def reserve(svc: Services, owner: str, tier: str, deployment_id: str, gpus: int, *, new: bool) -> None:
    """Hold `gpus` for the deployment (a new one takes a concurrent-deployment slot too), or raise
    QuotaExceededError with the quota, its limit and the current use. Unlimited tiers store nothing."""
    quotas = tiers.policy(svc, tier).quotas
    if quotas.concurrent_deployments is None and quotas.gpus_per_deployment is None and quotas.total_gpus is None:
        return
    if quotas.gpus_per_deployment is not None and gpus > quotas.gpus_per_deployment:
        _refuse(tier, "gpus_per_deployment", quotas.gpus_per_deployment, 0, gpus)
    live = _live(svc, owner)
    now = svc.now()
    refused: dict[str, Any] = {}

    def hold(doc: Doc | None) -> Doc | None:
        refused.clear()
        held: dict[str, Doc] = dict((doc or {}).get("held") or {})
        kept = {i: h for i, h in held.items() if i not in live and _recent(h, now)}
        others = {i: g for i, g in live.items() if i != deployment_id}
        others |= {i: int(h.get("gpus", 0)) for i, h in kept.items() if i != deployment_id}
        if new and quotas.concurrent_deployments is not None and len(others) + 1 > quotas.concurrent_deployments:
            refused.update(quota="concurrent_deployments", limit=quotas.concurrent_deployments, current=len(others))
            return None
        used = sum(others.values())
        if quotas.total_gpus is not None and used + gpus > quotas.total_gpus:
            refused.update(quota="total_gpus", limit=quotas.total_gpus, current=used, requested=gpus)
            return None
        kept[deployment_id] = {"gpus": gpus, "at": iso(now)}
        return {"owner": owner, "held": kept}

    svc.store.update(QUOTAS, owner, hold)
    if refused:
        _refuse(tier, refused["quota"], refused["limit"], refused["current"], refused.get("requested", 1))


def reserve_scale(svc: Services, dep: Deployment, max_replicas: int) -> None:
    """A scale that raises max_replicas needs the GPUs for it."""
    if max_replicas > dep.max_replicas:
        wanted = dep.model_copy(update={"max_replicas": max_replicas})
        reserve(svc, dep.owner, tier_of(svc, dep.owner), dep.deployment_id, gpus_of(wanted), new=False)


def reserve_update(svc: Services, dep: Deployment, changes: dict[str, Any]) -> None:
    """An update that asks for more replicas or GPUs per worker needs the tier's room for them, before it starts."""
    wanted = dep.model_copy(
        update={
            "max_replicas": changes.get("max_replicas", dep.max_replicas),
            "gpu_count": changes.get("gpu_count_requested") or dep.gpu_count,
        }
    )
    if gpus_of(wanted) > gpus_of(dep):
        reserve(svc, dep.owner, tier_of(svc, dep.owner), dep.deployment_id, gpus_of(wanted), new=False)


def reserve_choice(svc: Services, dep: Deployment, gpu_count: int) -> None:
    """select_gpu chose `gpu_count` GPUs per worker (auto may need more than the 1 the create held): a
    `quota_exceeded` fault (the deployment fails, saying which quota) unless the tier allows them."""
    if gpu_count == (dep.gpu_count_requested or 1):
        return
    chosen = dep.model_copy(update={"gpu_pools": ["chosen"], "gpu_count": gpu_count})
    try:
        reserve(svc, dep.owner, tier_of(svc, dep.owner), dep.deployment_id, gpus_of(chosen), new=False)
    except QuotaExceededError as exc:
        raise Fault("quota_exceeded", f"The model needs {gpu_count} GPUs per worker: {exc.message}") from None


def release(svc: Services, owner: str, deployment_id: str) -> None:
    """Free a reservation at once (a create that did not happen); otherwise it lapses with its deployment."""

    def drop(doc: Doc | None) -> Doc | None:
        held = dict((doc or {}).get("held") or {})
        if deployment_id not in held:
            return None
        del held[deployment_id]
        return {**(doc or {}), "held": held}

    svc.store.update(QUOTAS, owner, drop)


def _recent(held: Doc, now: datetime) -> bool:
    try:
        age: float = (now - parse_time(held["at"])).total_seconds()
        return age < RESERVATION_GRACE_SECONDS
    except (KeyError, TypeError, ValueError):
        return False


def _refuse(tier: str, quota: str, limit: int, current: int, requested: int) -> None:
    what = quota.replace("_", " ")
    raise QuotaExceededError(
        f"Your tier {tier!r} allows {limit} {what}; current use {current}, this needs {requested} more",
        {"tier": tier, "quota": quota, "limit": limit, "current": current, "requested": requested},
    )
