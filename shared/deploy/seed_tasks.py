"""Seed 003's task routes on this domain: deploy a model (or update the tenant's deployment of it
green), delete it, and read either task by its id or by the model's id.

A thin layer over the deployments API: the tenant's live deployment of a model is the newest one not
deleted; its tasks are the ordinary task records (shared/deploy/tasks.py).
"""

from __future__ import annotations

from typing import Any, TypeVar

import pydantic

from shared.deploy import create, delete, listing, records, tasks, update
from shared.platform.errors import NotFoundError, ValidationError
from shared.schemas.deployments import CreateDeploymentRequest
from shared.schemas.states import GONE, PROVISIONING, Status
from shared.schemas.stored import Deployment
from shared.schemas.tasks import ModelDeploymentResponse, Task, TaskKind
from shared.schemas.updates import UpdateDeploymentRequest
from shared.services import Services

DEPLOY_KINDS: tuple[TaskKind, ...] = ("deploy", "update", "rollback")
DELETE_KINDS: tuple[TaskKind, ...] = ("delete",)
SCAN_LIMIT = 100
M = TypeVar("M", bound=pydantic.BaseModel)


def answer(task: Task) -> ModelDeploymentResponse:
    meta: dict[str, Any] = {
        **task.metadata,
        "kind": task.kind,
        "deployment_id": task.deployment_id,
        "model_id": task.model_id,
        "created_at": task.created_at.isoformat(),
        "completed_at": task.completed_at.isoformat() if task.completed_at else None,
        "error": task.error.model_dump() if task.error else None,
    }
    return ModelDeploymentResponse(task_id=task.task_id, status=task.status, metadata=meta)


def deploy_model(svc: Services, owner: str, model_id: str, config: dict[str, Any]) -> ModelDeploymentResponse:
    live = _live(svc, owner, model_id)
    if live is None:
        body = _parse(CreateDeploymentRequest, {**config, "hf_model_id": model_id})
        created = create.create(svc, owner, body)
        return answer(tasks.get(svc, owner, tasks.deploy_task_id(created.deployment_id)))
    fields = {k: v for k, v in config.items() if k in UpdateDeploymentRequest.model_fields and k != "hf_model_id"}
    if live.status in PROVISIONING or not fields:  # being deployed, or nothing to change: its latest task
        return answer(_latest(svc, live))
    return answer(update.patch(svc, owner, live.deployment_id, _parse(UpdateDeploymentRequest, fields)))


def delete_model(svc: Services, owner: str, model_id: str) -> ModelDeploymentResponse:
    dep = _live(svc, owner, model_id, including_deleting=True)
    if dep is None:
        raise NotFoundError(f"No deployment of {model_id} to delete", {"model_id": model_id})
    task_id = delete.request_deletion(svc, dep)
    return answer(tasks.get(svc, owner, task_id))


def task_of_kind(svc: Services, owner: str, task_id: str, kinds: tuple[TaskKind, ...]) -> ModelDeploymentResponse:
    task = tasks.get(svc, owner, task_id)
    if task.kind not in kinds:
        raise NotFoundError(f"Task {task_id} not found", {"task_id": task_id})
    return answer(task)


def status_of_model(svc: Services, owner: str, model_id: str, kinds: tuple[TaskKind, ...]) -> ModelDeploymentResponse:
    task = tasks.latest_for_model(svc, owner, model_id, kinds)
    if task is None:
        raise NotFoundError(f"No task for model {model_id}", {"model_id": model_id})
    return answer(task)


def _live(svc: Services, owner: str, model_id: str, including_deleting: bool = False) -> Deployment | None:
    """The tenant's newest deployment of the model that is not gone (nor failed, for a deploy)."""
    deps, _ = listing.list_deployments(svc, owner, None, model_id, SCAN_LIMIT, None)
    for dep in deps:
        if dep.status == Status.DELETED or (dep.status in GONE and not including_deleting):
            continue
        if dep.status == Status.FAILED and not including_deleting:
            continue
        return records.load(svc, dep.deployment_id)
    return None


def _latest(svc: Services, dep: Deployment) -> Task:
    found = tasks.for_deployment(svc, dep)
    return found[-1] if found else tasks.get(svc, dep.owner, tasks.deploy_task_id(dep.deployment_id))


def _parse(model: type[M], data: dict[str, Any]) -> M:
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        errors = [{"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()]
        raise ValidationError("invalid config", {"errors": errors}) from None
