"""PATCH /v1/deployments/{id} and POST .../rollback: change a serving deployment without downtime.

Replica bounds and the idle timeout alone are applied to the live endpoint (in place). Anything else
starts a green update: the update_* steps (shared/deploy/steps/green.py, switch.py) bring the new
generation up beside the serving one and switch to it. One update at a time; each is a task.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from shared.accounts.credentials import deployment_runpod
from shared.catalog.gpu_pools import SelectionError, resolve_tier
from shared.clients.runpod import RunpodError
from shared.deploy import budgets, engine, quotas, records, scaling, tasks
from shared.deploy.green import CONFIG_KEYS, IN_PLACE_KEYS, config_of
from shared.platform.clock import later
from shared.platform.errors import ConflictError, ServiceUnavailableError, ValidationError
from shared.schemas.rules import check_scaling
from shared.schemas.states import SERVING
from shared.schemas.stored import Deployment, ErrorInfo, UpdateState
from shared.schemas.tasks import Task, TaskKind
from shared.schemas.updates import UpdateDeploymentRequest
from shared.services import Services

# Request field -> the Deployment field it sets.
REQUEST_KEYS = {"hf_model_id": "model_id", "gpu_count": "gpu_count_requested", "env": "extra_env"}


def patch(svc: Services, owner: str, deployment_id: str, body: UpdateDeploymentRequest) -> Task:
    dep = records.owned(svc, owner, deployment_id)
    if "budget" in body.model_fields_set:  # in place, also while paused (raising it lifts a budget pause)
        budgets.set_budget(svc, dep, body.budget)
        body = body.model_copy(update={"budget": None})
        dep = records.owned(svc, owner, deployment_id)
        if not body.model_fields_set - {"budget"}:
            return _in_place(svc, dep, {})
    changes = _changes(dep, body)
    require_updatable(dep)
    if not changes:
        return _in_place(svc, dep, {})
    quotas.reserve_update(svc, dep, changes)
    if all(key in IN_PLACE_KEYS for key in changes):
        return _in_place(svc, dep, changes)
    return begin(svc, dep, "update", lambda d: {**config_of(d), **changes}, sorted(changes))


def rollback(svc: Services, owner: str, deployment_id: str) -> Task:
    """Back to the previous generation's configuration, through the same green process."""
    dep = records.owned(svc, owner, deployment_id)
    if len(dep.generations) < 2:
        raise ConflictError("There is no previous generation to roll back to", {"generation": dep.generation})
    previous = dep.generations[-2].config
    changed = sorted(k for k in CONFIG_KEYS if previous.get(k) != config_of(dep).get(k))
    return begin(svc, dep, "rollback", lambda d: dict(previous), changed)


def require_updatable(d: Deployment) -> None:
    if d.update is not None:
        raise ConflictError(
            f"An update is already running: task {d.update.task_id}",
            {"task_id": d.update.task_id, "generation": d.update.generation},
        )
    if d.status not in SERVING:
        raise ConflictError(f"Only a ready deployment can be updated ({d.status.value})", {"status": d.status.value})
    if d.step is not None:
        raise ConflictError(
            f"The deployment is finishing step {d.step}; retry shortly", {"step": d.step}, {"Retry-After": "1"}
        )


def begin(
    svc: Services, dep: Deployment, kind: TaskKind, target: Callable[[Deployment], dict[str, Any]], changed: list[str]
) -> Task:
    """Start a green update (one at a time: a running one is a 409 naming its task)."""
    now = svc.now()
    started: dict[str, Any] = {}

    def decide(d: Deployment) -> engine.Move | None:
        require_updatable(d)
        generation = d.generation_counter + 1
        task_id = tasks.update_task_id(d.deployment_id, generation)
        config = target(d)
        started.update(task_id=task_id, generation=generation, config=config)

        def apply(x: Deployment) -> None:
            x.generation_counter = generation
            x.update = UpdateState(
                task_id=task_id,
                kind=kind,
                generation=generation,
                from_generation=x.generation,
                config=config,
                changed=changed,
                started_at=now,
                deadline_at=later(now, svc.settings.deploy_timeout_seconds),
            )

        what = ", ".join(changed) or "the same configuration"
        message = (
            f"{kind.capitalize()} {task_id} accepted: generation {generation} ({what}); the deployment keeps serving"
        )
        return engine.Move(next_step="update_validate", apply=apply, message=("INFO", message))

    after, moved = engine.move(svc, dep.deployment_id, decide)
    if not moved or after is None:
        raise ConflictError("The deployment changed meanwhile; retry")
    meta = {"config": started["config"], "generation": started["generation"], "changed": changed}
    tasks.open_task(svc, after, kind, started["task_id"], meta)
    return tasks.get(svc, dep.owner, started["task_id"])


def _changes(dep: Deployment, body: UpdateDeploymentRequest) -> dict[str, Any]:
    """The configuration keys the request changes (Deployment names), validated like a create's."""
    asked = {REQUEST_KEYS.get(k, k): getattr(body, k) for k in body.model_fields_set if getattr(body, k) is not None}
    if "model_id" in asked and "revision" not in asked and asked["model_id"] != dep.model_id:
        asked["revision"] = None  # another model: its default branch unless a revision is named
    if "gpu_tier" in asked:
        try:
            resolve_tier(asked["gpu_tier"])
        except SelectionError as exc:
            raise ValidationError(exc.message, {"field": "gpu_tier"}) from None
    try:
        check_scaling(asked.get("min_replicas", dep.min_replicas), asked.get("max_replicas", dep.max_replicas))
    except ValueError as exc:
        raise ValidationError(str(exc), {"field": "min_replicas"}) from None
    current = config_of(dep)
    return {k: v for k, v in asked.items() if current.get(k) != v}


def _in_place(svc: Services, dep: Deployment, changes: dict[str, Any]) -> Task:
    """Replica bounds through the desired-state path, the idle timeout by a PATCH of the live endpoint."""
    task_id = f"task_{dep.deployment_id}_i{secrets.token_hex(6)}"
    tasks.open_task(svc, dep, "update", task_id, {"changed": sorted(changes), "in_place": True})
    try:
        if "min_replicas" in changes or "max_replicas" in changes:
            scaling.scale(
                svc, dep, changes.get("min_replicas", dep.min_replicas), changes.get("max_replicas", dep.max_replicas)
            )
        if "idle_timeout_seconds" in changes:
            _idle_timeout(svc, dep, int(changes["idle_timeout_seconds"]))
    except Exception as exc:
        message = getattr(exc, "message", None) or type(exc).__name__
        tasks.finish(svc, task_id, "failed", ErrorInfo(code="update_rejected", message=str(message), step="in_place"))
        raise
    tasks.finish(svc, task_id, "completed")
    if changes:
        records.log(svc, dep.deployment_id, "INFO", f"Updated in place ({', '.join(sorted(changes))})")
    return tasks.get(svc, dep.owner, task_id)


def _idle_timeout(svc: Services, dep: Deployment, seconds: int) -> None:
    try:
        with deployment_runpod(svc, dep) as client:
            client.update_endpoint(dep.runpod_endpoint_id or "", {"workers": {"idleTimeout": seconds}})
    except RunpodError as exc:
        raise ServiceUnavailableError(f"Runpod did not take the idle timeout: {exc.message}") from None

    def keep(d: Deployment) -> Deployment | None:
        d.idle_timeout_seconds = seconds
        return d

    records.mutate(svc, dep.deployment_id, keep)
