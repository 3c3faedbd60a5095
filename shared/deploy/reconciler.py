"""The reconciler: the backstop that makes "stuck" and "leaked" impossible states.

Run every few minutes (Cloud Scheduler in production, a self-rescheduling local task on the embedded
default). It fails deployments past their deadline, re-drives any unfinished deployment whose task
was lost (whatever its step), finishes unfinished cleanups, and deletes leftover endpoints of this
install in the Runpod accounts it holds keys for.

The sweep only ever deletes an endpoint whose name carries this install's identity
(`shared/deploy/endpoint_names.py`) and names a deployment that is deleted, failed and cleaned up, or unknown
to this store for longer than `ORPHAN_GRACE_SECONDS`. Everything else in the account (the user's own
endpoints, another install's, endpoints named the old way, which stay managed through their
deployment's record) is never touched. Every deletion is logged with its reason; with
`RECONCILE_DRY_RUN` the sweep only reports what it would delete.

One run at a time: a run takes a lease document (compare-and-set) and a second run meanwhile does
nothing. A run is bounded (a time budget, at most `RECONCILE_MAX_ACCOUNTS` accounts) and the next
run continues where it stopped (cursors in the store). Should two runs still overlap (a lease outlived
by a slow run), every action is idempotent: moves are compare-and-set on (seq, updated_at) and a
deletion is counted and logged only by the run whose DELETE removed the endpoint.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from shared.accounts.credentials import deployment_key
from shared.clients.runpod import RunpodError
from shared.deploy import engine, lifecycle, notify, records
from shared.deploy.endpoint_names import parse_name
from shared.deploy.engine import Move
from shared.deploy.states import PROVISIONING, Status
from shared.platform.clock import iso, later, parse
from shared.queue import Task
from shared.schemas.stored import Deployment, ErrorInfo
from shared.services import Services
from shared.store import Query, Where

log = logging.getLogger(__name__)

ACTIVE = (
    *PROVISIONING,
    Status.READY,
    Status.WEBHOOK_FAILED,
    Status.PAUSED,
    Status.DELETING,
    Status.CLEANUP_FAILED,
    Status.FAILED,
)
KEY_LOOKBACK_DAYS = 30
RECONCILER = "reconciler"  # documents "lock" (the run's lease) and "cursor" (where the last run stopped)
SIGHTINGS = "orphan_sightings"  # first time the sweep saw an endpoint that carries no createdAt
SIGHTING_TTL_DAYS = 30
LOCK_MARGIN_SECONDS = 60.0
# The step that brings a deployment in this status forward, when it has none.
STEP_FOR_STATUS = {
    Status.VALIDATING: "validate",
    Status.SELECTING_GPU: "select_gpu",
    Status.CREATING_ENDPOINT: "create_endpoint",
    Status.DOWNLOADING_MODEL: "wait_ready",
    Status.LOADING_MODEL: "wait_ready",
}


def schedule_next(svc: Services) -> None:
    """The embedded default's stand-in for Cloud Scheduler: one task per interval (named by slot)."""
    interval = svc.settings.reconcile_interval_seconds
    slot = int(svc.now().timestamp() // interval) + 1
    delay = slot * interval - svc.now().timestamp()
    svc.queue.enqueue(Task(name=f"reconcile:{slot}", payload={}, delay_seconds=delay, target="reconcile"))


@dataclass
class Budget:
    """A run's time budget (monotonic: immune to wall-clock jumps)."""

    ends: float

    @classmethod
    def of(cls, seconds: float) -> Budget:
        return cls(time.monotonic() + seconds)

    def spent(self) -> bool:
        return time.monotonic() >= self.ends


def reconcile(svc: Services) -> dict[str, int]:
    stats: Counter[str] = Counter()
    run_id = secrets.token_hex(8)
    if not _take_lock(svc, run_id):
        log.info("reconciler: another run holds the lock; skipping this one")
        return {"skipped_locked": 1}
    try:
        budget = Budget.of(svc.settings.reconcile_time_budget_seconds)
        _check_deployments(svc, budget, stats)
        _sweep_orphans(svc, budget, stats)
    finally:
        _release_lock(svc, run_id)
    return dict(stats)


# ---- one run at a time --------------------------------------------------------------------------


def _take_lock(svc: Services, run_id: str) -> bool:
    now = svc.now()
    until = later(now, svc.settings.reconcile_time_budget_seconds + LOCK_MARGIN_SECONDS)

    def take(doc: dict | None) -> dict | None:
        if doc and doc.get("holder") and parse(doc["until"]) > now:
            return None  # held by a run that is still within its lease
        return {"holder": run_id, "until": iso(until), "taken_at": iso(now)}

    after, _ = svc.store.update(RECONCILER, "lock", take)
    return bool(after) and after.get("holder") == run_id


def _release_lock(svc: Services, run_id: str) -> None:
    svc.store.update(RECONCILER, "lock", lambda d: {**d, "holder": None} if d and d.get("holder") == run_id else None)


def _cursor(svc: Services, name: str) -> str:
    return (svc.store.get(RECONCILER, "cursor") or {}).get(name) or ""


def _save_cursor(svc: Services, name: str, value: str) -> None:
    svc.store.update(RECONCILER, "cursor", lambda d: {**(d or {}), name: value})


def _rotated(items: list[str], after: str) -> list[str]:
    """`items` (sorted) starting after `after`, wrapping around: every run moves the window on."""
    cut = next((n for n, x in enumerate(items) if x > after), 0)
    return items[cut:] + items[:cut]


# ---- deployments: deadlines, lost tasks, unfinished cleanups ------------------------------------


def _check_deployments(svc: Services, budget: Budget, stats: Counter) -> None:
    now = svc.now()
    stale_after = timedelta(seconds=svc.settings.step_lease_seconds * 2 + svc.settings.retry_max_seconds)
    docs: dict[str, dict] = {}
    for status in ACTIVE:
        for doc_id, doc in svc.store.query(Query(records.DEPLOYMENTS, where=(Where("status", "==", status.value),))):
            docs[doc_id] = doc
    order = _rotated(sorted(docs), _cursor(svc, "deployment"))
    last = None
    for n, doc_id in enumerate(order):
        if budget.spent():
            stats["deployments_deferred"] += len(order) - n
            break
        _check(svc, Deployment.model_validate(docs[doc_id]), now, stale_after, stats)
        last = doc_id
    if last is not None:
        _save_cursor(svc, "deployment", last)


def _check(svc: Services, dep: Deployment, now: datetime, stale_after: timedelta, stats: Counter) -> None:
    from shared.accounts.tenant_lifecycle import follow_tenant

    followed = follow_tenant(svc, dep)  # nothing of a deleted or suspended tenant keeps billing
    if followed:
        stats[followed] += 1
        return
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
    rescued = notify.rescue(svc, dep)  # an announcement or attempt lost to a crash
    if rescued:
        stats[f"webhooks_{rescued}"] += 1
        records.log(svc, dep.deployment_id, "WARNING", f"Reconciler: webhook {rescued} (it had been lost)")
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


# ---- leftover endpoints of this install ---------------------------------------------------------


def _sweep_orphans(svc: Services, budget: Budget, stats: Counter) -> None:
    """Delete this install's endpoints whose deployment is gone, failed and cleaned, or unknown."""
    if not svc.settings.install_id:
        stats["sweep_skipped_no_install_id"] += 1
        return
    keys = dict(_account_keys(svc, svc.now()))
    order = _rotated(sorted(keys), _cursor(svc, "account"))
    for n, account in enumerate(order):
        if n >= svc.settings.reconcile_max_accounts or budget.spent():
            stats["accounts_deferred"] += len(order) - n
            break
        _sweep_account(svc, keys[account], stats)
        _save_cursor(svc, "account", account)


def _account_keys(svc: Services, now: datetime) -> Iterator[tuple[str, str]]:
    """(a hash naming the account, its key) for every Runpod key used in the last days, once each."""
    since = iso(now - timedelta(days=KEY_LOOKBACK_DAYS))
    seen: set[str] = set()
    for _, doc in svc.store.query(Query(records.DEPLOYMENTS, where=(Where("created_at", ">=", since),))):
        try:
            key = deployment_key(svc, Deployment.model_validate(doc))
        except Exception as exc:  # one unreadable record must not stop the sweep of the others
            log.warning("reconciler: no usable Runpod key on %s (%s)", doc.get("deployment_id"), type(exc).__name__)
            continue
        account = hashlib.sha256(key.encode()).hexdigest()
        if account not in seen:
            seen.add(account)
            yield account, key


def _sweep_account(svc: Services, key: str, stats: Counter) -> None:
    s = svc.settings
    try:
        with svc.runpod(key) as client:
            for endpoint in client.list_endpoints():
                ours = parse_name(s.endpoint_name_prefix, str(endpoint.get("name") or ""))
                if ours is None or ours.install_id != s.install_id:
                    continue  # not made by this install: never touched
                reason = _orphan_reason(svc, ours.deployment_id, endpoint)
                if reason is None:
                    continue
                if s.reconcile_dry_run:
                    stats["orphans_would_delete"] += 1
                    _report(svc, ours.deployment_id, endpoint, reason, "would delete (dry run)")
                elif client.delete_endpoint(endpoint["id"]):
                    stats["orphans_deleted"] += 1
                    _report(svc, ours.deployment_id, endpoint, reason, "deleted")
                    svc.store.delete(SIGHTINGS, endpoint["id"])
    except RunpodError as exc:
        stats["accounts_unreachable"] += 1
        log.warning("reconciler: cannot sweep a Runpod account: %s", exc.message)


def _orphan_reason(svc: Services, deployment_id: str, endpoint: dict[str, Any]) -> str | None:
    """Why this install's endpoint must go, or None when it must stay."""
    dep = records.load(svc, deployment_id)
    if dep is not None:
        if dep.status == Status.DELETED:
            return f"its deployment {deployment_id} is deleted"
        if dep.status == Status.FAILED and dep.endpoint_deleted_at is not None:
            return f"its deployment {deployment_id} failed and was cleaned up"
        return None  # a live deployment: its own steps manage its endpoint
    age = _age_seconds(svc, endpoint)
    grace = svc.settings.orphan_grace_seconds
    if age < grace:
        return None
    return f"its deployment {deployment_id} is unknown to this install (endpoint {age:.0f}s old, grace {grace:.0f}s)"


def _age_seconds(svc: Services, endpoint: dict[str, Any]) -> float:
    """From Runpod's createdAt; without one, from the first time this sweep saw the endpoint."""
    now = svc.now()
    try:
        created = parse(str(endpoint["createdAt"]))
        if created.tzinfo is not None:
            return (now - created).total_seconds()
    except (KeyError, ValueError):
        pass
    first = {"first_seen": iso(now), "expire_at": iso(later(now, SIGHTING_TTL_DAYS * 86400))}
    svc.store.create(SIGHTINGS, str(endpoint["id"]), first)
    seen = svc.store.get(SIGHTINGS, str(endpoint["id"])) or first
    return (now - parse(seen["first_seen"])).total_seconds()


def _report(svc: Services, deployment_id: str, endpoint: dict[str, Any], reason: str, what: str) -> None:
    message = f"Reconciler: {what} leftover endpoint {endpoint['id']} ({endpoint.get('name')}): {reason}"
    log.warning("%s", message)
    if records.load(svc, deployment_id) is not None:
        records.log(svc, deployment_id, "WARNING", message)
