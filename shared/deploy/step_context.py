"""What a running step sees (the claimed deployment, the services) and the ways it can end.

A step ends by moving the deployment on (`advance`, `mark_ready`), by retrying later (`retry`) or by
failing it (`fail`); `handle_fault` is the one place an upstream `Fault` becomes a retry or a failure.
"""

from __future__ import annotations

from collections.abc import Callable

from shared.deploy import moves, notify, records, update_moves
from shared.deploy.commit import Move, move
from shared.deploy.green import UPDATE_STEPS
from shared.platform import tally
from shared.platform.clock import later
from shared.platform.faults import Fault
from shared.platform.retry import step_policy
from shared.platform.settings import Settings
from shared.schemas.stored import Deployment, ErrorInfo, LogLevel
from shared.services import Services

GiveUp = Callable[[str], None]


class StepContext:
    """What a step sees: the claimed deployment, services, and the ways to finish."""

    def __init__(self, svc: Services, dep: Deployment, lease_id: str):
        self.svc, self.dep, self.lease_id = svc, dep, lease_id
        # True once a move of this step committed (a commit releases the lease); otherwise run_step
        # releases it, whatever path the step took (superseded, refused, raised).
        self.finished = False

    @property
    def settings(self) -> Settings:
        return self.svc.settings

    def log(self, level: LogLevel, message: str) -> None:
        records.log(self.svc, self.dep.deployment_id, level, message, at=self.dep)

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
        after, moved = moves.mark_ready(self.svc, self.dep.deployment_id, source, self.lease_id, self.dep.seq)
        self.finished = self.finished or moved
        if moved:
            notify.announce(self.svc, after, "deployment.ready")
        return moved

    def handle_fault(self, fault: Fault, give_up: GiveUp | None = None, max_attempts: int | None = None) -> None:
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
        give_up: GiveUp | None = None,
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
        """Fail what this step brings up: the deployment, or (a green update's step) only the update."""
        tally.count("step_failures", step=self.dep.step or "unknown", code=code)
        error = ErrorInfo(code=code, message=message, retryable=retryable, step=self.dep.step)
        failing = update_moves.fail_update if self.dep.step in UPDATE_STEPS else moves.fail
        _, moved = failing(self.svc, self.dep.deployment_id, error, self.lease_id, self.dep.seq)
        self.finished = self.finished or moved

    def release(self) -> None:
        """Give the lease back (a step that committed no move of its own)."""

        def change(d: Deployment) -> Deployment | None:
            if d.lease_id != self.lease_id:
                return None
            d.lease_id = d.lease_until = None
            return d

        records.mutate(self.svc, self.dep.deployment_id, change)


StepFn = Callable[[StepContext], None]
