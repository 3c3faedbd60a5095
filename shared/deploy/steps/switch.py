"""A green update's end: switch to the green generation, drain and remove the previous endpoint; or,
when the green failed, remove the green endpoint and leave the serving one as it was.

The switch is one store write: endpoint id, URL, GPU, VRAM, image and configuration move together,
so every call the proxy makes reads either the whole previous generation or the whole new one.
"""

from __future__ import annotations

from shared.accounts.credentials import deployment_runpod
from shared.clients.runpod import RunpodError
from shared.deploy import desired_state, records, tasks, update_moves
from shared.deploy.commit import Move
from shared.deploy.endpoint_names import generation_name
from shared.deploy.green import IN_PLACE_KEYS, SWITCHED, candidate, generation_record
from shared.deploy.step_context import StepContext
from shared.deploy.steps.cleanup import remove_verified
from shared.deploy.steps.green import step_on
from shared.platform.clock import later
from shared.schemas.stored import Deployment

KEPT_GENERATIONS = 20


def update_switch(ctx: StepContext) -> None:
    dep, u = ctx.dep, ctx.dep.update
    if u is None or u.state != "running":
        ctx.advance(Move(next_step=None, outcome="cancelled"))
        return
    green = candidate(dep)
    if not green.runpod_endpoint_id:
        ctx.fail("internal_error", "the green endpoint was not recorded")
        return
    now = ctx.svc.now()

    def switch(d: Deployment) -> None:
        assert d.update is not None
        history = d.generations or [generation_record(d, tasks.deploy_task_id(d.deployment_id))]
        old = d.runpod_endpoint_id
        for key in SWITCHED:  # replica bounds and idle timeout follow a scale made meanwhile, unless asked
            if key not in IN_PLACE_KEYS or key in d.update.changed:
                setattr(d, key, getattr(green, key))
        d.generation = d.update.generation
        serving = generation_record(d, d.update.task_id)
        serving.serving_at = now
        d.generations = [*history, serving][-KEPT_GENERATIONS:]
        d.last_update_error = None
        d.update.old_endpoint_id = old
        d.update.state, d.update.phase, d.update.progress = "retiring", "draining", 85
        d.update.drain_until = later(now, ctx.settings.update_drain_seconds)

    ctx.advance(
        Move(
            next_step="update_drain",
            apply=switch,
            message=(
                "INFO",
                f"Update {u.task_id}: switched to generation {u.generation} (endpoint {green.runpod_endpoint_id}, "
                f"{green.gpu_allocated}); endpoint {dep.runpod_endpoint_id} takes no new jobs and drains",
            ),
        )
    )


def update_drain(ctx: StepContext) -> None:
    """The serving workers onto the new endpoint; the previous one scales to zero and finishes its jobs."""
    dep, u = ctx.dep, ctx.dep.update
    if u is None or not u.old_endpoint_id:
        step_on(ctx, "update_retire", "retiring", 95)
        return
    if not u.fields.get("drain_started"):
        try:
            desired_state.settle_at_ready(ctx.svc, dep.deployment_id)
        except desired_state.ScalingFailed as exc:  # the reconciler's drift check applies them later
            ctx.log("WARNING", f"Update {u.task_id}: the serving workers are not set yet ({exc.message})")
    busy = 0
    try:
        with deployment_runpod(ctx.svc, dep) as client:
            if not u.fields.get("drain_started"):
                client.update_endpoint(u.old_endpoint_id, {"workers": {"min": 0}})
            jobs = client.endpoint_health(u.old_endpoint_id).get("jobs") or {}
            busy = int(jobs.get("inQueue") or 0) + int(jobs.get("inProgress") or 0)
    except RunpodError as exc:
        if exc.status != 404:  # gone already: nothing to drain
            ctx.handle_fault(exc, give_up=lambda m: _drained(ctx, f"stopped draining: {m}"))
            return
    if busy and u.drain_until is not None and ctx.svc.now() < u.drain_until:
        delay = min(ctx.settings.ready_poll_interval_seconds, 5.0)
        step_on(ctx, "update_drain", "draining", 90, None, {"drain_started": True}, delay, "waiting")
        return
    _drained(ctx, f"{busy} job(s) left at the drain timeout" if busy else "no jobs left")


def _drained(ctx: StepContext, how: str) -> None:
    u = ctx.dep.update
    step_on(
        ctx,
        "update_retire",
        "retiring",
        95,
        f"Update {u.task_id if u else ''}: previous endpoint drained ({how}); deleting it",
        {"drain_started": True},
    )


def update_retire(ctx: StepContext) -> None:
    """Delete the previous endpoint and verify it gone; the update is complete."""
    dep, u = ctx.dep, ctx.dep.update
    if u is not None and u.old_endpoint_id:
        try:
            with deployment_runpod(ctx.svc, dep) as client:
                remove_verified(client, [u.old_endpoint_id])
        except RunpodError as exc:
            fault = exc
            ctx.handle_fault(
                fault,
                give_up=lambda m: _completed(
                    ctx, f"; the previous endpoint could not be removed yet ({m}): the reconciler removes it"
                ),
                max_attempts=ctx.settings.cleanup_max_attempts,
            )
            return
    _completed(ctx, f"; endpoint {u.old_endpoint_id} removed and verified gone" if u and u.old_endpoint_id else "")


def _completed(ctx: StepContext, note: str) -> None:
    u = ctx.dep.update
    generation = u.generation if u else ctx.dep.generation
    now = ctx.svc.now()

    def finish(d: Deployment) -> None:
        for g in d.generations:
            if g.generation != d.generation and g.retired_at is None:
                g.retired_at = now
        d.update = None

    label = f"{u.kind} {u.task_id}" if u else "update"
    message = f"Update complete ({label}): generation {generation} serving{note}"
    if ctx.advance(Move(next_step=None, apply=finish, message=("INFO", message))):
        update_moves.announce_end(
            ctx.svc, records.load(ctx.svc, ctx.dep.deployment_id), "deployment.updated", generation
        )


def update_abort(ctx: StepContext) -> None:
    """The green failed: remove its endpoint (by id and by its generation's name), verify it gone."""
    dep, u = ctx.dep, ctx.dep.update
    if u is None:
        ctx.advance(Move(next_step=None, outcome="cancelled"))
        return
    name = generation_name(dep.endpoint_name, u.generation)
    try:
        with deployment_runpod(ctx.svc, dep) as client:
            ids = {str(u.fields["runpod_endpoint_id"])} if u.fields.get("runpod_endpoint_id") else set()
            ids |= {e["id"] for e in client.list_endpoints() if e.get("name") == name}
            remove_verified(client, ids)
    except RunpodError as exc:
        fault = exc
        ctx.handle_fault(
            fault,
            give_up=lambda m: _aborted(
                ctx, f"; the green endpoint could not be removed yet ({m}): the reconciler removes it"
            ),
            max_attempts=ctx.settings.cleanup_max_attempts,
        )
        return
    _aborted(ctx, "; the green endpoint was removed, the serving one is untouched")


def _aborted(ctx: StepContext, note: str) -> None:
    u = ctx.dep.update
    assert u is not None
    message = f"Update {u.task_id} failed{note}"
    if ctx.advance(
        Move(next_step=None, apply=lambda d: update_moves.record_failure(ctx.svc, d), message=("WARNING", message))
    ):
        update_moves.announce_end(
            ctx.svc, records.load(ctx.svc, ctx.dep.deployment_id), "deployment.update_failed", u.generation
        )
