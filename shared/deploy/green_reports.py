"""Reports from a green generation's container (`?generation=N`): they move the update, never the
serving deployment. A report of a generation that is neither serving nor being brought up (a retired
one, a failed green) changes nothing."""

from __future__ import annotations

from shared.deploy import records, update_moves
from shared.deploy.commit import Move, move
from shared.deploy.progress import phase
from shared.schemas.states import Status
from shared.schemas.stored import Deployment, ErrorInfo
from shared.schemas.worker import WorkerReport, WorkerReportResponse
from shared.services import Services

# Green steps that are still bringing the green up: a worker report is theirs to take.
BRINGING_UP = frozenset({"update_validate", "update_select_gpu", "update_create", "update_wait"})


def green_report(svc: Services, dep: Deployment, generation: int, report: WorkerReport) -> WorkerReportResponse:
    answer = WorkerReportResponse(deployment_id=dep.deployment_id, status=dep.status)
    u = dep.update
    if u is None or u.generation != generation or u.state != "running":
        return answer
    label = f"Update {u.task_id} (generation {generation})"
    if report.status == "failed":
        note = f": {report.message}" if report.message else ""
        error = ErrorInfo(
            code="worker_failed", message=f"the green inference container failed{note}"[:2000], step="update_wait"
        )
        update_moves.fail_update(svc, dep.deployment_id, error)
        return answer
    if report.status == "ready":
        _green_ready(svc, dep.deployment_id, generation)
        return answer
    name, percent = phase(Status(report.status), report.progress)

    def progress(d: Deployment) -> Deployment | None:
        if d.update is None or d.update.generation != generation or d.update.state != "running":
            return None
        d.update.phase, d.update.progress = name, max(30, min(70, percent or 30))
        return d

    after, changed = records.mutate(svc, dep.deployment_id, progress)
    if changed:
        pct = f" ({report.progress}%)" if report.progress is not None else ""
        records.log(svc, dep.deployment_id, "INFO", f"{label}: worker {report.status.replace('_', ' ')}{pct}", at=after)
    return answer


def _green_ready(svc: Services, deployment_id: str, generation: int) -> None:
    """Noted on the update (so a create still retrying goes straight to the switch); while the update
    waits for its worker, the switch is scheduled at once."""

    def note(d: Deployment) -> Deployment | None:
        if d.update is None or d.update.generation != generation or d.update.worker_ready_at is not None:
            return None
        d.update.worker_ready_at = svc.now()
        return d

    records.mutate(svc, deployment_id, note)

    def decide(d: Deployment) -> Move | None:
        u = d.update
        if u is None or u.generation != generation or u.state != "running" or d.step != "update_wait":
            return None

        def apply(x: Deployment) -> None:
            if x.update is not None:
                x.update.phase, x.update.progress = "switching", 75

        return Move(
            next_step="update_switch",
            apply=apply,
            outcome="succeeded",
            message=("INFO", f"Update {u.task_id} (generation {generation}): its worker reported ready"),
        )

    move(svc, deployment_id, decide)
