"""The moves of a green update that steps, worker reports and the API share: fail it, finish it.

Each goes through `commit.move`, so it is ordered with the update's steps (a DELETE supersedes them
all) and runs exactly once; the deployment's status is never changed here: it keeps serving.
"""

from __future__ import annotations

from shared.deploy import notify, tasks
from shared.deploy.commit import Move, move
from shared.schemas.stored import Deployment, ErrorInfo, FailedUpdate
from shared.services import Services

KEPT_FAILURES = 10


def fail_update(
    svc: Services, deployment_id: str, error: ErrorInfo, lease_id: str | None = None, seq: int | None = None
) -> tuple[Deployment | None, bool]:
    """The green cannot be brought up: remove it (update_abort); the serving endpoint is untouched."""

    def decide(d: Deployment) -> Move | None:
        if d.update is None or d.update.state != "running":
            return None  # no update, already failing, or past the switch (then it completes)

        def apply(x: Deployment) -> None:
            assert x.update is not None
            x.update.state, x.update.phase, x.update.error = "failing", "removing_green", error

        return Move(
            next_step="update_abort",
            apply=apply,
            outcome="failed",
            message=(
                "ERROR",
                f"Update {d.update.task_id} failed [{error.code}]: {error.message}; removing the "
                "green endpoint, the serving one is untouched",
            ),
        )

    return move(svc, deployment_id, decide, lease_id, seq)


def record_failure(svc: Services, x: Deployment) -> None:
    """Applied by update_abort's final move: the update ends failed, the deployment says why."""
    u = x.update
    assert u is not None and u.error is not None
    x.failed_updates = [
        *x.failed_updates,
        FailedUpdate(task_id=u.task_id, generation=u.generation, error=u.error, at=svc.now()),
    ][-KEPT_FAILURES:]
    x.last_update_error = u.error
    x.update = None


def announce_end(svc: Services, after: Deployment | None, event: str, generation: int) -> None:
    """Once an update's final move committed: its task settles and its event goes out (once each)."""
    if after is None:
        return
    tasks.settle_all(svc, after)
    notify.announce(svc, after, event, occurrence=f"g{generation}")
