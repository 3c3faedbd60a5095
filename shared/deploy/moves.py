"""The moves that steps, worker callbacks, the API and the reconciler share: fail, delete, ready.

Each is a `Move` applied through `commit.move`, so it is exactly once and ordered with the steps:
with a step's lease and seq it is that step's own move; without them it is decided afresh against
the stored deployment.
"""

from __future__ import annotations

from shared.deploy import learned_eta, notify, records, tasks
from shared.deploy.commit import Move, move
from shared.schemas.states import GONE, WAITING_FOR_WORKER, Status
from shared.schemas.stored import Deployment, ErrorInfo
from shared.services import Services


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
    if moved and after is not None:
        tasks.settle_all(svc, after)
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

    after, moved = move(svc, deployment_id, decide, lease_id, seq)
    if moved and after is not None:
        tasks.settle_all(svc, after)
        learned_eta.record(svc, after)
    return after, moved


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
