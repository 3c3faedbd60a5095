"""A green update's bring-up: size the new configuration, create its endpoint, wait for its worker.

Each step works on the green candidate (shared/deploy/green.py), through the same sizing and endpoint
code as a new deployment, and records what it found in `update.fields`; the deployment itself, its
status and its serving endpoint are untouched. A failure fails the update only (StepContext.fail).
"""

from __future__ import annotations

from typing import Any

from shared.accounts.credentials import deployment_runpod
from shared.deploy import records, tasks
from shared.deploy.commit import Move, StepOutcome
from shared.deploy.green import candidate, found_fields
from shared.deploy.step_context import StepContext
from shared.deploy.steps import sizing
from shared.deploy.steps.endpoint import crash_looping, discard, find_or_create, poll_interval, probe
from shared.schemas.states import GONE
from shared.schemas.stored import Deployment, LogLevel

UNHEALTHY_POLLS = "unhealthy_polls"  # kept in update.fields while waiting for the green worker


def step_on(
    ctx: StepContext,
    next_step: str,
    phase: str,
    progress: int,
    message: str | None = None,
    fields: dict[str, Any] | None = None,
    delay: float = 0.0,
    outcome: StepOutcome = "succeeded",
) -> bool:
    """The update step's own move: record what it found and where the update stands, schedule the next."""

    def apply(d: Deployment) -> None:
        if d.update is not None:
            d.update.fields = {**d.update.fields, **(fields or {})}
            d.update.phase, d.update.progress = phase, progress

    line: tuple[LogLevel, str] | None = ("INFO", message) if message else None
    return ctx.advance(Move(next_step=next_step, apply=apply, delay=delay, message=line, outcome=outcome))


def _running(ctx: StepContext) -> bool:
    """The update this step serves is still running and within its deadline (else it ends here)."""
    u = ctx.dep.update
    if u is None or u.state != "running":
        ctx.advance(Move(next_step=None, outcome="cancelled"))  # nothing left to bring up
        return False
    if ctx.svc.now() > u.deadline_at:
        code = "ready_timeout" if ctx.dep.step == "update_wait" else "deploy_timeout"
        ctx.fail(code, "the green generation did not become ready in time")
        return False
    return True


def _say(ctx: StepContext, message: str) -> str:
    u = ctx.dep.update
    return f"Update {u.task_id if u else ''} (generation {u.generation if u else '?'}): {message}"


def update_validate(ctx: StepContext) -> None:
    if not _running(ctx):
        return
    u = ctx.dep.update
    assert u is not None
    tasks.open_task(ctx.svc, ctx.dep, u.kind, u.task_id, {"config": u.config, "generation": u.generation})
    green = candidate(ctx.dep)
    apply, message = sizing.assess(ctx.svc, green, lambda level, line: ctx.log(level, _say(ctx, line)))
    apply(green)
    step_on(ctx, "update_select_gpu", "selecting_gpu", 15, _say(ctx, message), found_fields(green))


def update_select_gpu(ctx: StepContext) -> None:
    if not _running(ctx):
        return
    green = candidate(ctx.dep)
    apply, message = sizing.choose(ctx.svc, green)
    apply(green)
    step_on(ctx, "update_create", "creating_endpoint", 25, _say(ctx, message), found_fields(green))


def update_create(ctx: StepContext) -> None:
    """The green endpoint, exactly once: the recorded one, one a lost create left (by its name), or new."""
    if not _running(ctx):
        return
    green = candidate(ctx.dep)
    with deployment_runpod(ctx.svc, green) as client:
        endpoint_id, how = find_or_create(ctx.svc, client, green)
        found = {
            "runpod_endpoint_id": endpoint_id,
            "endpoint_url": client.runtime_url(endpoint_id, "run"),
            "endpoint_created_at": ctx.svc.now().isoformat(),
            "gpu_allocated": green.gpu_pools[0] if green.gpu_pools else None,
        }

        def record(d: Deployment) -> None:
            if d.update is not None and not d.update.fields.get("runpod_endpoint_id"):
                d.update.fields = {**d.update.fields, **found}  # its id at once, like a new deployment's

        if not ctx.save(record):
            # Superseded: a DELETE's cleanup removes it by name; an update that ended must not leave it.
            now = records.load(ctx.svc, ctx.dep.deployment_id)
            gone = now is None or now.status in GONE
            if gone or now is None or now.update is None or now.update.generation != green.generation:
                discard(client, endpoint_id)
            return
    u = ctx.dep.update
    if u is not None and u.worker_ready_at is not None:  # the green worker reported ready already
        step_on(ctx, "update_switch", "switching", 75, _say(ctx, f"endpoint {endpoint_id} {how}; its worker is ready"))
        return
    step_on(
        ctx,
        "update_wait",
        "downloading",
        30,
        _say(ctx, f"endpoint {endpoint_id} {how}; its worker is starting (the deployment keeps serving)"),
        delay=poll_interval(ctx),
    )


def update_wait(ctx: StepContext) -> None:
    """Until the green worker is really up: its own report (update.worker_ready_at) or the health check."""
    if not _running(ctx):
        return
    u = ctx.dep.update
    assert u is not None
    if u.worker_ready_at is not None:
        step_on(ctx, "update_switch", "switching", 75, _say(ctx, "its worker reported ready"))
        return
    endpoint_id = str(u.fields.get("runpod_endpoint_id") or "")
    seen = probe(ctx.svc, candidate(ctx.dep), endpoint_id, int(u.fields.get(UNHEALTHY_POLLS) or 0))
    if seen.state == "up":
        step_on(ctx, "update_switch", "switching", 75, _say(ctx, seen.note))
        return
    if crash_looping(ctx, seen):
        return
    polls = {} if seen.state == "unreachable" else {UNHEALTHY_POLLS: seen.unhealthy_polls}
    step_on(ctx, "update_wait", u.phase, u.progress, None, polls, poll_interval(ctx), "waiting")
