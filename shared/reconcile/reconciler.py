"""The reconciler: the backstop that makes "stuck" and "leaked" impossible states.

Run every few minutes (Cloud Scheduler in production, a self-rescheduling local task on the embedded
default). It fails deployments past their deadline, re-drives any unfinished deployment whose task
was lost (whatever its step), finishes unfinished cleanups, and deletes leftover endpoints of this
install in the Runpod accounts it holds keys for: the deployments pass
(`reconcile_deployments.py`), then the sweep (`reconcile_sweep.py`), under one lease (`reconcile_run.py`).

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

import logging
import secrets
from collections import Counter

from shared.queue import Task
from shared.reconcile.deployments import check_deployments
from shared.reconcile.run import Budget, release_lock, take_lock
from shared.reconcile.sweep import sweep_orphans
from shared.services import Services

log = logging.getLogger(__name__)


def schedule_next(svc: Services) -> None:
    """The embedded default's stand-in for Cloud Scheduler: one task per interval (named by slot)."""
    interval = svc.settings.reconcile_interval_seconds
    slot = int(svc.now().timestamp() // interval) + 1
    delay = slot * interval - svc.now().timestamp()
    svc.queue.enqueue(Task(name=f"reconcile:{slot}", payload={}, delay_seconds=delay, target="reconcile"))


def reconcile(svc: Services) -> dict[str, int]:
    stats: Counter[str] = Counter()
    run_id = secrets.token_hex(8)
    if not take_lock(svc, run_id):
        log.info("reconciler: another run holds the lock; skipping this one")
        return {"skipped_locked": 1}
    try:
        budget = Budget.of(svc.settings.reconcile_time_budget_seconds)
        check_deployments(svc, budget, stats)
        sweep_orphans(svc, budget, stats)
    finally:
        release_lock(svc, run_id)
    return dict(stats)
