"""The step engine: run one step task exactly once, under at-least-once delivery.

A task names (deployment_id, step, seq). It first *claims* the deployment (a lease, compare-and-set
on seq), then runs the step from the step table, which ends with a move committed by
`shared.deploy.commit` (compare-and-set on seq and lease). A task for an older seq is stale and a 2xx
no-op; one for a move not committed yet is answered 503 and retried (`shared.queue.outcome`).

This module is also the engine's front for the API, worker callbacks and the reconciler: the moves
they use are re-exported here from `commit` (Move, move, schedule) and `moves` (fail, delete, ready).
"""

from __future__ import annotations

import logging
import secrets
import time
from datetime import datetime

from shared.deploy import records
from shared.deploy.commit import Move, RefusedMove, move, schedule
from shared.deploy.moves import fail, mark_ready, note_early_ready, request_delete
from shared.deploy.step_context import StepContext
from shared.deploy.step_table import STEPS
from shared.platform import tally
from shared.platform.clock import later
from shared.platform.errors import Contention
from shared.platform.faults import Fault
from shared.queue.outcome import Outcome, done, not_yet
from shared.schemas.states import PROVISIONING
from shared.schemas.stored import Deployment, StepRecord
from shared.services import Services

__all__ = [
    "Move",
    "RefusedMove",
    "fail",
    "mark_ready",
    "move",
    "note_early_ready",
    "request_delete",
    "run_step",
    "schedule",
]

log = logging.getLogger(__name__)

TIMEOUT_CODES = {"wait_ready": "ready_timeout"}
UNKNOWN_GRACE_SECONDS = 60.0


def run_step(svc: Services, deployment_id: str, step: str, seq: int, issued_at: datetime | None = None) -> Outcome:
    dep = records.load(svc, deployment_id)
    if dep is None:
        # The first task is enqueued just before its deployment is written: shortly after, "unknown"
        # means "not committed yet"; later it means gone for good.
        if issued_at is not None and (svc.now() - issued_at).total_seconds() < UNKNOWN_GRACE_SECONDS:
            return not_yet("the deployment is not committed yet", 1)
        return done("unknown deployment")
    if seq < dep.seq or (seq == dep.seq and step != dep.step):
        return done("stale task")
    if seq > dep.seq:
        return not_yet("the move that scheduled this task is not committed yet", 1)
    fn = STEPS.get(step)
    if fn is None:
        return done(f"unknown step {step}")

    dep, outcome = _claim(svc, dep, step, seq)
    if outcome is not None:
        return outcome
    ctx = StepContext(svc, dep, dep.lease_id or "")
    started = time.monotonic()
    try:
        if _past_deadline(ctx):
            return done("deadline passed")
        try:
            fn(ctx)
        except Fault as exc:  # an upstream said no or is down: a retry or a failure, decided in one place
            if not ctx.finished:
                ctx.handle_fault(exc)
    except Contention:
        return not_yet("the deployment is contended", 2)
    except Exception as exc:  # a bug or an unexpected answer: retried, then failed visibly
        log.exception("step %s of %s raised", step, deployment_id)
        if not ctx.finished:
            detail = f": {exc}" if isinstance(exc, RefusedMove) else ""  # other texts may carry anything
            ctx.retry("internal_error", f"unexpected error ({type(exc).__name__}{detail})"[:500])
    finally:
        tally.observe("step_duration_seconds", time.monotonic() - started, step=step)
        # Every path that did not commit a move of ours gives the lease back at once, so whatever
        # superseded this step (a DELETE's cleanup, a re-drive) does not wait for the lease to expire.
        if not ctx.finished:
            ctx.release()
    return done(f"{step} ran")


def _claim(svc: Services, dep: Deployment, step: str, seq: int) -> tuple[Deployment, Outcome | None]:
    """Take the step's lease: (claimed deployment, None), or (dep, what to answer the queue instead)."""
    lease_id = secrets.token_hex(8)
    now = svc.now()

    def claim(d: Deployment) -> Deployment | None:
        if d.seq != seq or d.step != step:
            return None
        if d.lease_id and d.lease_until and d.lease_until > now:
            return None
        d.lease_id = lease_id
        d.lease_until = later(now, svc.settings.step_lease_seconds)
        last = d.steps[-1] if d.steps else None
        if last is not None and last.name == step and last.state in ("running", "retrying"):
            last.state = "running"
            last.attempts = d.attempt + 1
        else:
            d.steps.append(StepRecord(name=step, state="running", started_at=now, attempts=d.attempt + 1))
        return d

    after, claimed = records.mutate(svc, dep.deployment_id, claim)
    if claimed and after is not None:
        return after, None
    if after is None or after.seq != seq or after.step != step:
        return dep, done("stale task")
    # Ask again soon, not when the lease would expire: its holder usually releases it much earlier.
    wait = min(2.0, (after.lease_until - now).total_seconds()) if after.lease_until else 1.0
    return dep, not_yet("another delivery of this step holds the lease", wait)


def _past_deadline(ctx: StepContext) -> bool:
    """Steps that bring a deployment up stop at the deployment's and the step's deadline."""
    dep, now = ctx.dep, ctx.svc.now()
    if dep.status not in PROVISIONING:
        return False
    if now > dep.deadline_at:
        ctx.fail(TIMEOUT_CODES.get(dep.step or "", "deploy_timeout"), "the deployment did not become ready in time")
        return True
    if dep.step_deadline_at and now > dep.step_deadline_at:
        ctx.fail(
            TIMEOUT_CODES.get(dep.step or "", "step_timeout"),
            f"step {dep.step} did not finish within {ctx.settings.step_timeout_seconds:.0f}s",
            retryable=True,
        )
        return True
    return False
