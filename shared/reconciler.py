"""The reconciler: the backstop that makes "stuck" and "leaked" impossible states.

Run every few minutes (Cloud Scheduler in production, a self-rescheduling local task on the embedded
default). It fails deployments past their deadline, re-drives steps whose task was lost, finishes
unfinished cleanups, and deletes endpoints carrying this product's prefix that belong to no live
deployment in the Runpod accounts it holds keys for. Everything it does is logged on the deployment.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from datetime import timedelta

from shared import engine, lifecycle, repo
from shared.crypto import CryptoError
from shared.engine import Move
from shared.models import Deployment, ErrorInfo
from shared.queue import Task
from shared.runpod import RunpodError
from shared.services import Services
from shared.states import PROVISIONING, Status
from shared.store import Query, Where
from shared.timeutil import iso

log = logging.getLogger(__name__)

ACTIVE = (*PROVISIONING, Status.READY, Status.WEBHOOK_FAILED, Status.DELETING, Status.CLEANUP_FAILED, Status.FAILED)
ACTIVE = (*ACTIVE, Status.PAUSED)  # a paused deployment's workers are checked too (lifecycle.correct_drift)
KEY_LOOKBACK_DAYS = 30


def schedule_next(svc: Services) -> None:
    """The embedded default's stand-in for Cloud Scheduler: one task per interval (named by slot)."""
    interval = svc.settings.reconcile_interval_seconds
    slot = int(svc.now().timestamp() // interval) + 1
    delay = slot * interval - svc.now().timestamp()
    svc.queue.enqueue(Task(name=f"reconcile:{slot}", payload={}, delay_seconds=delay, target="reconcile"))


def reconcile(svc: Services) -> dict[str, int]:
    stats: Counter[str] = Counter()
    now = svc.now()
    stale_after = timedelta(seconds=svc.settings.step_lease_seconds * 2 + svc.settings.retry_max_seconds)
    for status in ACTIVE:
        for _, doc in svc.store.query(Query(repo.DEPLOYMENTS, where=(Where("status", "==", status.value),))):
            dep = Deployment.model_validate(doc)
            _check(svc, dep, now, stale_after, stats)
    _sweep_orphans(svc, now, stats)
    return dict(stats)


def _check(svc: Services, dep: Deployment, now, stale_after: timedelta, stats: Counter) -> None:
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
    if lifecycle.correct_drift(svc, dep):  # Runpod's workers differ from the desired state
        stats["workers_reapplied"] += 1
    message = f"Reconciler: step {dep.step} made no progress; re-driving it"
    if dep.step and quiet and lease_free and _redrive(svc, dep, dep.step, message):
        stats["steps_redriven"] += 1


def _redrive(svc: Services, dep: Deployment, step: str, message: str) -> bool:
    """Schedule `step` again under a new seq (a new task name: the lost one may be de-duplicated)."""
    seen = (dep.seq, dep.updated_at)

    def decide(d: Deployment) -> Move | None:
        if (d.seq, d.updated_at) != seen:
            return None  # it moved meanwhile: not stuck after all
        return Move(next_step=step, message=("WARNING", message), outcome="waiting")

    _, moved = engine.move(svc, dep.deployment_id, decide)
    return moved


def _sweep_orphans(svc: Services, now, stats: Counter) -> None:
    """Delete prefixed endpoints whose deployment is gone, failed and cleaned, or unknown."""
    prefix = svc.settings.endpoint_name_prefix
    since = iso(now - timedelta(days=KEY_LOOKBACK_DAYS))
    keys: dict[str, str] = {}
    for _, doc in svc.store.query(Query(repo.DEPLOYMENTS, where=(Where("created_at", ">=", since),))):
        try:
            key = svc.cipher.decrypt(doc["runpod_key"], context=doc["deployment_id"])
        except CryptoError:
            continue
        keys.setdefault(hashlib.sha256(key.encode()).hexdigest(), key)
    for key in keys.values():
        try:
            with svc.runpod(key) as client:
                for endpoint in client.list_endpoints():
                    name = endpoint.get("name") or ""
                    if name.startswith(prefix) and _orphaned(svc, name[len(prefix) :]):
                        client.delete_endpoint(endpoint["id"])
                        stats["orphans_deleted"] += 1
                        _note(svc, name[len(prefix) :], f"Reconciler: deleted leftover endpoint {endpoint['id']}")
        except RunpodError as exc:
            stats["accounts_unreachable"] += 1
            log.warning("reconciler: cannot sweep a Runpod account: %s", exc.message)


def _orphaned(svc: Services, deployment_id: str) -> bool:
    dep = repo.load(svc, deployment_id)
    if dep is None:
        return True
    return dep.status == Status.DELETED or (dep.status == Status.FAILED and dep.endpoint_deleted_at is not None)


def _note(svc: Services, deployment_id: str, message: str) -> None:
    if repo.load(svc, deployment_id) is not None:
        repo.log(svc, deployment_id, "WARNING", message)
