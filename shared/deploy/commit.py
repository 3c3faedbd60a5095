"""How a deployment moves from one step to the next, exactly once: schedule first, then commit.

Every step runs as a task carrying (deployment_id, step, seq). `seq` is the deployment's step
generation, bumped by every move; a task for an older seq is stale. A move enqueues the next task
*before* its commit, under a deterministic name, so a crash in between loses nothing: a task that
arrives ahead of its commit is answered 503 and retried, and the step that crashed is retried by the
queue. The commit is a compare-and-set on seq (and, for a step's own move, on its lease).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from shared.deploy import records
from shared.platform.clock import iso, later
from shared.platform.errors import Contention
from shared.queue import Task
from shared.schemas.states import Status, can_move, is_ahead
from shared.schemas.stored import Deployment, LogLevel
from shared.services import Services

# Waiting for the worker and removing the endpoint are bounded by other clocks than a step's deadline.
UNBOUNDED_STEPS = frozenset({"wait_ready", "cleanup", "update_wait", "update_drain", "update_retire", "update_abort"})
MOVE_TRIES = 8

Resolution = Literal["apply", "keep", "refused"]
# How the current step's record ends: retrying and waiting leave it open (the same step runs again).
StepOutcome = Literal["succeeded", "failed", "cancelled", "retrying", "waiting"]


def task_name(deployment_id: str, step: str, seq: int) -> str:
    return f"{deployment_id}:{step}:{seq}"


def schedule(svc: Services, deployment_id: str, step: str, seq: int, delay: float = 0.0) -> None:
    payload = {"kind": "step", "deployment_id": deployment_id, "step": step, "seq": seq, "issued_at": iso(svc.now())}
    svc.queue.enqueue(Task(name=task_name(deployment_id, step, seq), payload=payload, delay_seconds=delay))


def _unchanged(d: Deployment) -> None:
    return None


@dataclass
class Move:
    """A change to a deployment that bumps its seq, optionally scheduling the next step."""

    next_step: str | None
    status: Status | None = None
    delay: float = 0.0
    apply: Callable[[Deployment], None] = _unchanged
    message: tuple[LogLevel, str] | None = None  # logged once the move is committed
    outcome: StepOutcome = "succeeded"
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
    for _ in range(MOVE_TRIES):
        current = records.load(svc, deployment_id)
        if current is None:
            return None, False
        if lease_id is not None and (current.lease_id != lease_id or (seq is not None and current.seq != seq)):
            return current, False  # superseded: our claim is gone or another move committed meanwhile
        chosen = decide(current)
        if chosen is None:
            return current, False
        if _resolve(current.status, chosen.status) == "refused":
            if lease_id is None:
                return current, False
            raise RefusedMove(f"step {current.step}: cannot move from {current.status.value} to {chosen.status}")
        base = current.seq
        if chosen.next_step:
            schedule(svc, deployment_id, chosen.next_step, base + 1, chosen.delay)
        after, moved = records.mutate(svc, deployment_id, _committer(svc, chosen, base, lease_id))
        if moved:
            _log_move(svc, deployment_id, chosen, after)
            return after, True
        if after is None:
            return None, False
    raise Contention(f"deployment {deployment_id} kept changing")


def _committer(
    svc: Services, chosen: Move, base: int, lease_id: str | None
) -> Callable[[Deployment], Deployment | None]:
    """The compare-and-set of one move: declines when another move committed since `base` was read."""

    def commit(d: Deployment) -> Deployment | None:
        if d.seq != base or (lease_id is not None and d.lease_id != lease_id):
            return None
        how = _resolve(d.status, chosen.status)
        if how == "refused":
            return None  # the status changed since we looked: decide again
        if how == "apply" and chosen.status is not None:
            d.status = chosen.status
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

    return commit


def _log_move(svc: Services, deployment_id: str, chosen: Move, after: Deployment | None) -> None:
    if chosen.message:
        records.log(svc, deployment_id, chosen.message[0], chosen.message[1], at=after)
    if chosen.status and after is not None and after.status != chosen.status:
        kept = f"Kept status {after.status.value} (the worker reported it) instead of {chosen.status.value}"
        records.log(svc, deployment_id, "INFO", kept, at=after)


def _resolve(current: Status, target: Status | None) -> Resolution:
    """How a move's status change applies now: "apply", "keep" (none asked, or already ahead) or "refused"."""
    if target is None or target == current:
        return "keep"
    if can_move(current, target):
        return "apply"
    return "keep" if is_ahead(current, target) else "refused"


def _close_record(d: Deployment, outcome: StepOutcome, now: datetime) -> None:
    if not (d.steps and d.steps[-1].state in ("running", "retrying") and d.steps[-1].name == d.step):
        return
    rec = d.steps[-1]
    if outcome == "retrying":
        rec.state = "retrying"
    elif outcome == "waiting":
        rec.state = "running"
    else:
        rec.state = outcome
        rec.finished_at = now
