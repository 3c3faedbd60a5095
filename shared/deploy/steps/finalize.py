"""finalize: from the one provisioning worker to the serving configuration, once the model is loaded."""

from __future__ import annotations

from shared.deploy import desired_state
from shared.deploy.commit import Move
from shared.deploy.step_context import StepContext
from shared.schemas.states import Status


def finalize(ctx: StepContext) -> None:
    """Ready: from the one provisioning worker to the desired workers (zero at rest by default, 0/0 if paused).

    Applied through desired_state's one serialised path, which reads the desired state when it PATCHes.
    """
    try:
        after = desired_state.settle_at_ready(ctx.svc, ctx.dep.deployment_id)
    except desired_state.ScalingFailed as exc:
        # Never fails a ready deployment: the step ends and the reconciler re-applies the workers.
        ctx.handle_fault(exc, give_up=lambda m: _scale_failed(ctx, m))
        return
    if after is None or after.status == Status.PAUSED:
        ctx.advance(Move(next_step=None, message=("INFO", "Paused before serving; workers set to 0/0")))
        return
    at_rest = "scaled to zero at rest" if after.min_replicas == 0 else f"{after.min_replicas} warm worker(s)"
    ctx.advance(
        Move(
            next_step=None,
            message=(
                "INFO",
                f"Endpoint serving: {at_rest} (min {after.min_replicas}, max {after.max_replicas} workers)",
            ),
        )
    )


def _scale_failed(ctx: StepContext, reason: str) -> None:
    ctx.advance(
        Move(
            next_step=None,
            outcome="failed",
            message=("WARNING", f"Could not set the serving workers: {reason}; the reconciler re-applies them"),
        )
    )
