"""What users ask of a deployment's workers: scale, stop (pause) and start (resume).

Each request changes the desired state and waits until Runpod took it (shared/deploy/desired_state.py);
what Runpod refuses becomes the API's answer here.
"""

from __future__ import annotations

from collections.abc import Callable

from shared.deploy import meter, records
from shared.deploy.desired_state import ScalingFailed, converge, desire
from shared.platform.errors import BadRequestError, ConflictError, ServiceUnavailableError
from shared.schemas.states import GONE, SERVING, Status
from shared.schemas.stored import Deployment
from shared.services import Services


def _api_error(exc: ScalingFailed, min_replicas: int | None = None, max_replicas: int | None = None) -> Exception:
    if exc.kind == "quota":
        return BadRequestError(
            f"Insufficient GPU quota for requested replicas: {exc.message}",
            {"min_replicas": min_replicas, "max_replicas": max_replicas},
        )
    if exc.transient:
        return ServiceUnavailableError(
            f"Runpod is unavailable ({exc.message}); the change is saved and applied as soon as Runpod answers",
            {"saved": True},
            headers={"Retry-After": "5"},
        )
    if exc.kind == "not_found":
        return ConflictError("The Runpod endpoint no longer exists")
    return BadRequestError(exc.message, {"runpod": exc.kind})


def _require_active(dep: Deployment) -> None:
    if dep.status in GONE or dep.status == Status.FAILED:
        raise ConflictError(
            f"No active deployment: {dep.deployment_id} is {dep.status.value}", {"status": dep.status.value}
        )


def scale(svc: Services, dep: Deployment, min_replicas: int, max_replicas: int) -> Deployment:
    """Set the autoscaling bounds: applied to Runpod now when serving, at finalize or start otherwise."""

    def change(d: Deployment) -> bool:
        _require_active(d)
        d.min_replicas, d.max_replicas = min_replicas, max_replicas
        return True

    after, _ = desire(svc, dep.deployment_id, change)
    if after is None:
        raise ConflictError("The deployment no longer exists")
    records.log(svc, dep.deployment_id, "INFO", f"Scaling set to min {min_replicas}, max {max_replicas}", at=after)
    try:
        return converge(svc, dep.deployment_id, after.scaling.gen)
    except ScalingFailed as exc:
        raise _api_error(exc, min_replicas, max_replicas) from None


def stop(svc: Services, dep: Deployment, reason: str = "user") -> str:
    """Pause: workers 0/0, endpoint and URL kept, scaling remembered for start."""

    def change(d: Deployment) -> bool:
        _require_active(d)
        if d.status == Status.PAUSED:
            return False
        if d.status not in SERVING:
            raise ConflictError(
                f"Only a ready deployment can be stopped; this one is {d.status.value}", {"status": d.status.value}
            )
        d.status, d.paused_at, d.paused_reason = Status.PAUSED, svc.now(), reason
        return True

    return _switch(svc, dep, change, "stopped", "Paused: workers scaled to 0/0; the endpoint and its URL are kept")


def start(svc: Services, dep: Deployment) -> str:
    def change(d: Deployment) -> bool:
        _require_active(d)
        if d.status in SERVING:
            return False
        if d.status != Status.PAUSED:
            raise ConflictError(
                f"Only a paused deployment can be started; this one is {d.status.value}", {"status": d.status.value}
            )
        d.status, d.paused_at, d.paused_reason = Status.READY, None, None
        if d.budget_state is not None and d.budget_state.exceeded:  # lifted until the next period's 100 %
            d.budget_state.exceeded, d.budget_state.reason = False, "Lifted by POST /start"
        return True

    return _switch(svc, dep, change, "started", "Resumed: the scaling before the pause is restored")


def _switch(svc: Services, dep: Deployment, change: Callable[[Deployment], bool], done: str, message: str) -> str:
    after, changed = desire(svc, dep.deployment_id, change)
    if after is None:
        raise ConflictError("The deployment no longer exists")
    if changed:
        records.log(svc, dep.deployment_id, "INFO", message, at=after)
    try:
        converge(svc, dep.deployment_id, after.scaling.gen)  # an earlier change may still be on its way
    except ScalingFailed as exc:
        raise _api_error(exc, after.min_replicas, after.max_replicas) from None
    meter.sample_quietly(svc, records.load(svc, dep.deployment_id))  # a start/stop event closes the window
    return done if changed else f"already_{done}"
