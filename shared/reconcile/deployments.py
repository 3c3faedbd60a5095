"""The reconciler's pass over unfinished deployments: deadlines, lost tasks, unfinished cleanups, the
tenant's status, workers that drifted from the desired state, and webhooks lost to a crash."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from shared.deploy import budgets, crash_watch, desired_state, engine, meter, notify, records, tenant_budgets
from shared.deploy.engine import Move
from shared.deploy.tenant_cascade import follow_tenant
from shared.platform.clock import iso
from shared.reconcile.run import Budget, rotated, save_cursor, saved_cursor
from shared.schemas.states import PROVISIONING, Status
from shared.schemas.stored import Deployment, ErrorInfo
from shared.services import Services
from shared.store import Query, Where
from shared.store.base import Doc

ACTIVE = (
    *PROVISIONING,
    Status.READY,
    Status.WEBHOOK_FAILED,
    Status.PAUSED,
    Status.DELETING,
    Status.CLEANUP_FAILED,
    Status.FAILED,
)
DELETED_RESCUE_WINDOW = timedelta(hours=6)
# The step that brings a deployment in this status forward, when it has none.
STEP_FOR_STATUS = {
    Status.VALIDATING: "validate",
    Status.SELECTING_GPU: "select_gpu",
    Status.CREATING_ENDPOINT: "create_endpoint",
    Status.DOWNLOADING_MODEL: "wait_ready",
    Status.LOADING_MODEL: "wait_ready",
}


def check_deployments(svc: Services, budget: Budget, stats: Counter[str]) -> None:
    now = svc.now()
    stale_after = timedelta(seconds=svc.settings.step_lease_seconds * 2 + svc.settings.retry_max_seconds)
    docs: dict[str, Doc] = {}
    for status in ACTIVE:
        for doc_id, doc in svc.store.query(Query(records.DEPLOYMENTS, where=(Where("status", "==", status.value),))):
            docs[doc_id] = doc
    order = rotated(sorted(docs), saved_cursor(svc, "deployment"))
    last = None
    for n, doc_id in enumerate(order):
        if budget.spent():
            stats["deployments_deferred"] += len(order) - n
            break
        _check(svc, Deployment.model_validate(docs[doc_id]), now, stale_after, stats)
        last = doc_id
    if last is not None:
        save_cursor(svc, "deployment", last)
    _rescue_deleted(svc, now, stats)


def _rescue_deleted(svc: Services, now: datetime, stats: Counter[str]) -> None:
    """`deployment.deleted` is announced after the record says deleted, a status the pass above leaves
    out: a crash in between would lose it. Recently deleted deployments get the same rescue (a range on
    one field: no composite index; DELETED_RESCUE_WINDOW bounds the rows read)."""
    since = iso(now - DELETED_RESCUE_WINDOW)
    for _, doc in svc.store.query(Query(records.DEPLOYMENTS, where=(Where("endpoint_deleted_at", ">=", since),))):
        dep = Deployment.model_validate(doc)
        if dep.status == Status.DELETED:
            _rescue_webhook(svc, dep, stats)


def _rescue_webhook(svc: Services, dep: Deployment, stats: Counter[str]) -> None:
    rescued = notify.rescue(svc, dep)
    if rescued:
        stats[f"webhooks_{rescued}"] += 1
        records.log(svc, dep.deployment_id, "WARNING", f"Reconciler: webhook {rescued} (it had been lost)")


def _check(svc: Services, dep: Deployment, now: datetime, stale_after: timedelta, stats: Counter[str]) -> None:
    followed = follow_tenant(svc, dep)  # nothing of a deleted or suspended tenant keeps billing
    if followed:
        stats[followed] += 1
        return
    if meter.sample_quietly(svc, dep):  # the workers Runpod reports now, for usage and spend
        stats["usage_sampled"] += 1
        watched = crash_watch.watch(svc, dep)  # crash-looping workers: flagged, paused when opted in
        if watched:
            stats[f"unhealthy_{watched}"] += 1
    if dep.budget is not None and budgets.check_quietly(svc, dep.deployment_id):
        stats["budget_thresholds"] += 1
    if tenant_budgets.check_quietly(svc, dep.owner):
        stats["tenant_budget_thresholds"] += 1
    if dep.status in PROVISIONING and now > dep.deadline_at:
        code = "ready_timeout" if dep.step == "wait_ready" else "deploy_timeout"
        _, moved = engine.fail(
            svc,
            dep.deployment_id,
            ErrorInfo(code=code, message="the deployment did not become ready in time (reconciler)", step=dep.step),
        )
        stats["failed_past_deadline"] += moved
        return
    needs_cleanup = dep.status in (Status.DELETING, Status.CLEANUP_FAILED) or (
        dep.status == Status.FAILED and dep.endpoint_deleted_at is None
    )
    quiet = now - dep.updated_at > stale_after
    lease_free = dep.lease_until is None or dep.lease_until < now
    if needs_cleanup and (dep.step is None or quiet) and lease_free:
        if _redrive(svc, dep, "cleanup", "Reconciler: finishing the unfinished cleanup"):
            stats["cleanups_redriven"] += 1
        return
    if desired_state.correct_drift(svc, dep):  # Runpod's workers differ from the desired state
        stats["workers_reapplied"] += 1
    _rescue_webhook(svc, dep, stats)  # an announcement or attempt lost to a crash
    if not (quiet and lease_free):
        return
    step = dep.step or _step_for(dep)
    if step is None:
        return  # settled (serving, paused, failed and cleaned): nothing to drive
    what = f"step {dep.step}" if dep.step else f"status {dep.status.value} (no step scheduled)"
    if _redrive(svc, dep, step, f"Reconciler: {what} made no progress; re-driving {step}"):
        stats["steps_redriven"] += 1


def _step_for(dep: Deployment) -> str | None:
    """The step that moves an unfinished deployment on when nothing is scheduled for it."""
    step = STEP_FOR_STATUS.get(dep.status)
    if step == "wait_ready" and not dep.runpod_endpoint_id:
        return "create_endpoint"  # no endpoint recorded yet: adopt it by name, or create it
    return step


def _redrive(svc: Services, dep: Deployment, step: str, message: str) -> bool:
    """Schedule `step` again under a new seq (a new task name: the lost one may be de-duplicated)."""
    seen = (dep.seq, dep.updated_at)

    def decide(d: Deployment) -> Move | None:
        if (d.seq, d.updated_at) != seen:
            return None  # it moved meanwhile (or another run re-drove it): not stuck after all
        return Move(next_step=step, message=("WARNING", message), outcome="waiting")

    _, moved = engine.move(svc, dep.deployment_id, decide)
    return moved
