"""GET /v1/deployments/{id}: the stored deployment with what is derived from it (phase, progress, ETA,
deletion progress, cost) and its recent logs."""

from __future__ import annotations

from shared.deploy import learned_eta, progress, records, tasks
from shared.deploy.green import generation_record
from shared.schemas.deployments import CostInfo, DeletionInfo, DeploymentResponse, DeploymentSummary
from shared.schemas.states import Status
from shared.schemas.stored import Deployment
from shared.services import Services

# What GET shows as stored; the rest of DeploymentResponse is derived in view().
SHARED_VIEW_FIELDS = set(DeploymentResponse.model_fields) & set(Deployment.model_fields)


def deletion_info(dep: Deployment) -> DeletionInfo | None:
    if dep.deletion_requested_at is None:
        return None
    if dep.status == Status.DELETED:
        state = "completed"
    elif dep.status == Status.CLEANUP_FAILED:
        state = "failed"
    else:
        state = "in_progress" if dep.lease_id else "pending"
    cleanup = [s for s in dep.steps if s.name == "cleanup"]
    return DeletionInfo(
        state=state,
        requested_at=dep.deletion_requested_at,
        completed_at=dep.endpoint_deleted_at if state == "completed" else None,
        # Attempts that have ended (the cleanup step's and the reconciler's alike); one still running
        # counts once it ends, so the figure never races with a re-drive in progress.
        attempts=sum(s.attempts - (s.state == "running") for s in cleanup),
        error=next((s.error for s in reversed(cleanup) if s.error), None),
    )


def view(svc: Services, dep: Deployment) -> DeploymentResponse:
    now = svc.now()
    phase, percent = progress.phase_of(dep)
    errors = list(dep.worker_errors)
    if dep.error is not None:
        errors.append(dep.error.message)
    cost = progress.cost(dep, now)
    estimated, eta = learned_eta.estimate(svc, dep, now)
    shared = dep.model_dump(include=SHARED_VIEW_FIELDS)
    if not dep.generations and dep.ready_at is not None:  # the first generation, before any update
        shared["generations"] = [generation_record(dep, tasks.deploy_task_id(dep.deployment_id)).model_dump()]
    return DeploymentResponse(
        **shared,
        logs=records.recent_logs(svc, dep.deployment_id),
        phase=phase,
        progress=percent,
        errors=errors,
        warnings=list(dep.worker_warnings),
        estimated_ready_at=estimated,
        eta=eta,
        worker_image=dep.worker.get("image"),
        worker_reason=dep.worker.get("reason"),
        deletion=deletion_info(dep),
        cost=CostInfo(**cost) if cost else None,
    )


def summary(svc: Services, dep: Deployment) -> DeploymentSummary:
    """A list row: the stored fields with the phase, progress and cost a list shows."""
    phase, percent = progress.phase_of(dep)
    cost = progress.cost(dep, svc.now())
    return DeploymentSummary.model_validate(
        {**dep.model_dump(), "phase": phase, "progress": percent, "cost": CostInfo(**cost) if cost else None}
    )
