"""The step engine: how a deployment moves from one step to the next, exactly once.

Every step runs as a task carrying (deployment_id, step, seq). `seq` is the deployment's step
generation, bumped by every move; a task for an older seq is stale and a 2xx no-op. A step first
*claims* the deployment (a lease, compare-and-set on seq), then does its side effects, then
*commits* (compare-and-set on seq and lease). The next task is enqueued *before* the commit under a
deterministic name, so a crash in between loses nothing: a task that arrives ahead of its commit is
answered 503 and retried, and the step that crashed is retried by the queue.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared.deploy import records
from shared.deploy.states import GONE, PROVISIONING, WAITING_FOR_WORKER, Status, can_move, is_ahead
from shared.platform.clock import iso, later
from shared.platform.errors import Contention
from shared.platform.faults import Fault
from shared.platform.retry import step_policy
from shared.queue import Task
from shared.schemas.stored import Deployment, ErrorInfo, StepRecord
from shared.services import Services

log = logging.getLogger(__name__)

TIMEOUT_CODES = {"wait_ready": "ready_timeout"}
UNBOUNDED_STEPS = frozenset({"wait_ready", "cleanup"})


@dataclass(frozen=True)
class Outcome:
    """What run_step answers: 2xx ends the task, 503 (with Retry-After) has it retried."""

    status: int
    result: str
    retry_after: float | None = None

    def body(self) -> dict[str, Any]:
        return {"result": self.result}


def done(result: str) -> Outcome:
    return Outcome(200, result)


def not_yet(result: str, seconds: float) -> Outcome:
    return Outcome(503, result, max(1.0, round(seconds, 1)))


def task_name(deployment_id: str, step: str, seq: int) -> str:
    return f"{deployment_id}:{step}:{seq}"


def schedule(svc: Services, deployment_id: str, step: str, seq: int, delay: float = 0.0) -> None:
    payload = {"kind": "step", "deployment_id": deployment_id, "step": step, "seq": seq, "issued_at": iso(svc.now())}
    svc.queue.enqueue(Task(name=task_name(deployment_id, step, seq), payload=payload, delay_seconds=delay))


@dataclass
class Move:
    """A change to a deployment that bumps its seq, optionally scheduling the next step."""

    next_step: str | None
    status: Status | None = None
    delay: float = 0.0
    apply: Callable[[Deployment], None] = lambda d: None
    message: tuple[str, str] | None = None  # (level, text) logged once the move is committed
    outcome: str = "succeeded"  # how the current step's record ends
    keep_lease: bool = False


class RefusedMove(Exception):
    """A step asked for a status change the state table forbids: a bug, retried and logged, never dropped."""


def move(
    svc: Services,
    deployment_id: str,
    decide: Callable[[Deployment], Move | None],
    lease_id: str | None = None,
    seq: int | None = None,
) -> tuple[Deployment | None, bool]:
    """Apply the move that `decide` picks for the current state: schedule first, then commit.

    With `lease_id` (a step's own move), the commit also requires that this lease is still held and,
    with `seq`, that no other move committed since the step claimed the deployment. Such a step is
    superseded (deleted, failed, made ready by the worker or re-driven): it gets (current, False) and
    must stop. Its status change is then resolved against the table:
    - allowed: applied;
    - the deployment is already *ahead* in the bring-up order (worker callbacks move it without a step):
      the status is kept and the rest of the move (next step, record) proceeds;
    - anything else: RefusedMove is raised (run_step logs it and retries the step).
    Without a lease (callbacks, the API, the reconciler), `decide` filters what it may do and a refused
    status change answers (current, False).
    Returns (deployment after, moved).
    """
    for _ in range(8):
        current = records.load(svc, deployment_id)
        if current is None:
            return None, False
        if lease_id is not None and (current.lease_id != lease_id or (seq is not None and current.seq != seq)):
            return current, False  # superseded: our claim is gone or another move committed meanwhile
        chosen = decide(current)
        if chosen is None:
            return current, False
        resolution = _resolve(current.status, chosen.status)
        if resolution == "refused":
            if lease_id is None:
                return current, False
            raise RefusedMove(f"step {current.step}: cannot move from {current.status.value} to {chosen.status}")
        base = current.seq
        if chosen.next_step:
            schedule(svc, deployment_id, chosen.next_step, base + 1, chosen.delay)

        def commit(d: Deployment, base: int = base, chosen: Move = chosen) -> Deployment | None:
            if d.seq != base or (lease_id is not None and d.lease_id != lease_id):
                return None
            how = _resolve(d.status, chosen.status)
            if how == "refused":
                return None  # the status changed since we looked: decide again
            if how == "apply":
                d.status = chosen.status  # type: ignore[assignment]
            now = svc.now()
            _close_record(d, chosen.outcome, now)
            chosen.apply(d)
            same_step = chosen.next_step == d.step
            d.attempt = d.attempt if same_step else 0
            if chosen.next_step and not same_step:
                # Waiting for the worker is bounded by the deployment's deadline, not a step's.
                d.step_deadline_at = (
                    None if chosen.next_step in UNBOUNDED_STEPS else later(now, svc.settings.step_timeout_seconds)
                )
            d.step = chosen.next_step
            d.seq = base + 1
            if not chosen.keep_lease:
                d.lease_id = d.lease_until = None
            return d

        after, moved = records.mutate(svc, deployment_id, commit)
        if moved:
            if chosen.message:
                records.log(svc, deployment_id, chosen.message[0], chosen.message[1], at=after)  # type: ignore[arg-type]
            if chosen.status and after is not None and after.status != chosen.status:
                records.log(
                    svc,
                    deployment_id,
                    "INFO",
                    f"Kept status {after.status.value} (the worker reported it) instead of {chosen.status.value}",
                    at=after,
                )
            return after, True
        if after is None:
            return None, False
    raise Contention(f"deployment {deployment_id} kept changing")


def _resolve(current: Status, target: Status | None) -> str:
    """How a move's status change applies now: "apply", "keep" (none asked, or already ahead) or "refused"."""
    if target is None or target == current:
        return "keep"
    if can_move(current, target):
        return "apply"
    return "keep" if is_ahead(current, target) else "refused"


def _close_record(d: Deployment, outcome: str, now) -> None:
    if d.steps and d.steps[-1].state in ("running", "retrying") and d.steps[-1].name == d.step:
        rec = d.steps[-1]
        if outcome in ("retrying", "waiting"):
            rec.state = "retrying" if outcome == "retrying" else "running"
        else:
            rec.state = outcome  # type: ignore[assignment]
            rec.finished_at = now


# ---- failing and deleting (used by steps, callbacks, the API and the reconciler) ---------------


def fail(
    svc: Services,
    deployment_id: str,
    error: ErrorInfo,
    lease_id: str | None = None,
    seq: int | None = None,
) -> tuple[Deployment | None, bool]:
    """Fail a deployment that is still being brought up, then remove its endpoint."""

    def decide(d: Deployment) -> Move | None:
        if d.status in GONE or d.status == Status.FAILED:
            return None

        def apply(x: Deployment) -> None:
            x.error = error
            if x.steps and x.steps[-1].finished_at and x.steps[-1].state == "failed":
                x.steps[-1].error = error.message

        return Move(
            next_step="cleanup",
            status=Status.FAILED,
            apply=apply,
            message=("ERROR", f"Deployment failed [{error.code}]: {error.message}"),
            outcome="failed",
        )

    after, moved = move(svc, deployment_id, decide, lease_id, seq)
    if moved:
        from shared.deploy import notify

        notify.announce(svc, after, "deployment.failed")
    return after, moved


def request_delete(svc: Services, deployment_id: str) -> Deployment | None:
    """Mark for deletion and schedule cleanup. A step holding a lease finishes (and undoes) first."""

    def decide(d: Deployment) -> Move | None:
        if d.status in (Status.DELETING, Status.DELETED):
            return None

        def apply(x: Deployment) -> None:
            x.deletion_requested_at = x.deletion_requested_at or svc.now()

        return Move(
            next_step="cleanup",
            status=Status.DELETING,
            apply=apply,
            message=("INFO", "Deletion requested; removing the Runpod endpoint"),
            outcome="cancelled",
            keep_lease=True,
        )

    after, _ = move(svc, deployment_id, decide)
    return after


def mark_ready(
    svc: Services, deployment_id: str, source: str, lease_id: str | None = None, seq: int | None = None
) -> tuple[Deployment | None, bool]:
    """The model is loaded: ready, then finalize (scale to the serving configuration).

    Needs the endpoint id: a worker's `ready` that comes before it is recorded (`note_early_ready`) is
    applied by create_endpoint once the id is saved.
    """

    def decide(d: Deployment) -> Move | None:
        if d.status not in WAITING_FOR_WORKER or not d.runpod_endpoint_id:
            return None

        def apply(x: Deployment) -> None:
            x.ready_at = svc.now()
            x.error = None

        return Move(
            next_step="finalize",
            status=Status.READY,
            apply=apply,
            message=("INFO", f"Model is loaded and the endpoint is ready ({source})"),
        )

    return move(svc, deployment_id, decide, lease_id, seq)


def note_early_ready(svc: Services, deployment_id: str) -> tuple[Deployment | None, bool]:
    """Keep a worker's `ready` that came before its endpoint id was recorded (a create whose answer was lost).

    Declines when the id is known by now (then mark_ready applies) or the deployment is past waiting.
    """

    def change(d: Deployment) -> Deployment | None:
        if d.runpod_endpoint_id or d.status not in WAITING_FOR_WORKER:
            return None
        d.worker_reported_ready_at = d.worker_reported_ready_at or svc.now()
        return d

    return records.mutate(svc, deployment_id, change)


# ---- running one step -------------------------------------------------------------------------


class StepContext:
    """What a step sees: the claimed deployment, services, and the ways to finish."""

    def __init__(self, svc: Services, dep: Deployment, lease_id: str):
        self.svc, self.dep, self.lease_id = svc, dep, lease_id
        # True once a move of this step committed (a commit releases the lease); otherwise run_step
        # releases it, whatever path the step took (superseded, refused, raised).
        self.finished = False

    @property
    def settings(self):
        return self.svc.settings

    def log(self, level: str, message: str) -> None:
        records.log(self.svc, self.dep.deployment_id, level, message, at=self.dep)  # type: ignore[arg-type]

    def save(self, apply: Callable[[Deployment], None]) -> bool:
        """Record something at once, keeping the lease (e.g. an endpoint id the moment it exists)."""

        def change(d: Deployment) -> Deployment | None:
            if d.seq != self.dep.seq or d.lease_id != self.lease_id:
                return None
            apply(d)
            return d

        after, ok = records.mutate(self.svc, self.dep.deployment_id, change)
        if ok and after is not None:
            self.dep = after
        return ok

    def advance(self, mv: Move) -> bool:
        """The step's own move; False when it was superseded (deleted, failed, ready meanwhile): stop then."""
        _, moved = move(self.svc, self.dep.deployment_id, lambda d: mv, self.lease_id, self.dep.seq)
        self.finished = self.finished or moved
        return moved

    def mark_ready(self, source: str) -> bool:
        """The model is loaded (seen by this step): ready, finalize next, and the webhook once."""
        after, moved = mark_ready(self.svc, self.dep.deployment_id, source, self.lease_id, self.dep.seq)
        self.finished = self.finished or moved
        if moved:
            from shared.deploy import notify

            notify.announce(self.svc, after, "deployment.ready")
        return moved

    def handle_fault(
        self,
        fault: Fault,
        give_up: Callable[[str], None] | None = None,
        max_attempts: int | None = None,
    ) -> None:
        """The one place an upstream fault becomes a retry or a failure.

        A transient fault is retried (`retry`); a permanent one fails the deployment with its code at
        once. `give_up(message)`, when given, replaces failing the deployment in both cases (finalize
        and cleanup end their step differently); `max_attempts` replaces RETRY_MAX_ATTEMPTS.
        run_step calls it for every fault a step lets through.
        """
        if fault.transient:
            self.retry(fault.code, fault.message, fault.retry_after, give_up=give_up, max_attempts=max_attempts)
        elif give_up is not None:
            give_up(fault.message)
        else:
            self.fail(fault.code, fault.message)

    def retry(
        self,
        code: str,
        message: str,
        retry_after: float | None = None,
        give_up: Callable[[str], None] | None = None,
        max_attempts: int | None = None,
    ) -> None:
        """Try this step again later, with the step retry policy's backoff, until its deadline.

        Past the last attempt (RETRY_MAX_ATTEMPTS unless `max_attempts`), or when the wait would end
        past the step's deadline, `give_up(message)` runs; by default the deployment fails with `code`.
        """
        policy = step_policy(self.settings)
        if max_attempts is not None:
            policy = policy.with_max_attempts(max_attempts)
        attempt = self.dep.attempt + 1
        delay = policy.delay(attempt, retry_after)
        deadline = self.dep.step_deadline_at
        too_late = deadline is not None and later(self.svc.now(), delay) > deadline
        if policy.exhausted(attempt) or too_late:
            final = f"{message} (gave up after {attempt} attempts)"
            if give_up is not None:
                give_up(final)
            else:
                self.fail(code, final, retryable=True)
            return

        def apply(d: Deployment) -> None:
            d.attempt = attempt
            if d.steps and d.steps[-1].name == d.step:
                d.steps[-1].error = message

        self.advance(
            Move(
                next_step=self.dep.step,
                delay=delay,
                apply=apply,
                message=("WARNING", f"{self.dep.step}: {message}; retrying in {delay:.0f}s (attempt {attempt + 1})"),
                outcome="retrying",
            )
        )

    def fail(self, code: str, message: str, retryable: bool = False) -> None:
        _, moved = fail(
            self.svc,
            self.dep.deployment_id,
            ErrorInfo(code=code, message=message, retryable=retryable, step=self.dep.step),
            self.lease_id,
            self.dep.seq,
        )
        self.finished = self.finished or moved

    def release(self) -> None:
        def change(d: Deployment) -> Deployment | None:
            if d.lease_id != self.lease_id:
                return None
            d.lease_id = d.lease_until = None
            return d

        records.mutate(self.svc, self.dep.deployment_id, change)


StepFn = Callable[[StepContext], None]


@dataclass
class StepRegistry:
    steps: dict[str, StepFn] = field(default_factory=dict)

    def register(self, name: str) -> Callable[[StepFn], StepFn]:
        def add(fn: StepFn) -> StepFn:
            self.steps[name] = fn
            return fn

        return add


REGISTRY = StepRegistry()


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
    fn = REGISTRY.steps.get(step)
    if fn is None:
        return done(f"unknown step {step}")

    dep, outcome = _claim(svc, dep, step, seq)
    if outcome is not None:
        return outcome
    ctx = StepContext(svc, dep, dep.lease_id or "")
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
        # Every path that did not commit a move of ours gives the lease back at once, so whatever
        # superseded this step (a DELETE's cleanup, a re-drive) does not wait for the lease to expire.
        if not ctx.finished:
            ctx.release()
    return done(f"{step} ran")


def _claim(svc: Services, dep: Deployment, step: str, seq: int) -> tuple[Deployment, Outcome | None]:
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
