"""Task records: every long operation on a deployment (deploy, update, rollback, delete) has its own id.

A task is opened (idempotently: its id is derived from the deployment and the operation) when the
operation is accepted; its status then follows the deployment record, which is where the steps
commit: `settle` derives it from the deployment and writes it back when it moved. So a step that
crashed after its commit never leaves its task behind, and a repeated settle changes nothing.
"""

from __future__ import annotations

from typing import Any

from shared.deploy import records
from shared.platform.clock import iso
from shared.platform.crypto import same
from shared.platform.errors import NotFoundError
from shared.schemas.states import GONE, PROVISIONING, Status
from shared.schemas.stored import Deployment, ErrorInfo
from shared.schemas.tasks import FINISHED, TASKS, StoredTask, Task, TaskKind, TaskStatus
from shared.services import Services
from shared.store import Query, Where
from shared.store.base import Doc

Derived = tuple[TaskStatus, ErrorInfo | None]


def deploy_task_id(deployment_id: str) -> str:
    return f"task_{deployment_id}_deploy"


def delete_task_id(deployment_id: str) -> str:
    return f"task_{deployment_id}_delete"


def update_task_id(deployment_id: str, generation: int) -> str:
    return f"task_{deployment_id}_g{generation}"


def open_task(
    svc: Services, dep: Deployment, kind: TaskKind, task_id: str, metadata: dict[str, Any] | None = None
) -> None:
    """Record the task once; opening it again (a retried request or step) keeps the first record."""
    now = svc.now()
    task = StoredTask(
        task_id=task_id,
        kind=kind,
        status="pending",
        deployment_id=dep.deployment_id,
        model_id=dep.model_id,
        owner=dep.owner,
        created_at=now,
        updated_at=now,
        metadata=metadata or {},
    )
    svc.store.create(TASKS, task_id, task.model_dump(mode="json"))


def finish(svc: Services, task_id: str, status: TaskStatus, error: ErrorInfo | None = None) -> None:
    """End a task the deployment does not track (an in-place update); an ended task stays as it ended."""
    now = iso(svc.now())

    def change(doc: Doc | None) -> Doc | None:
        if doc is None or doc.get("status") in FINISHED:
            return None
        doc.update(status=status, error=error.model_dump() if error else None, updated_at=now, completed_at=now)
        doc["started_at"] = doc.get("started_at") or now
        return doc

    svc.store.update(TASKS, task_id, change)


def derive(task: StoredTask, dep: Deployment | None) -> Derived | None:
    """The task's status as the deployment tells it; None when the deployment says nothing new."""
    if dep is None:
        return None
    if task.kind == "deploy":
        if dep.ready_at is not None:
            return "completed", None
        if dep.status == Status.FAILED:
            return "failed", dep.error
        if dep.status in GONE:
            return "failed", ErrorInfo(code="cancelled", message="the deployment was deleted before it was ready")
        return ("in_progress" if dep.steps else "pending"), None
    if task.kind == "delete":
        if dep.status == Status.DELETED:
            return "completed", None
        if dep.status == Status.CLEANUP_FAILED:
            why = next((s.error for s in reversed(dep.steps) if s.name == "cleanup" and s.error), None)
            message = why or "the endpoint could not be removed yet; the reconciler keeps trying"
            return "failed", ErrorInfo(code="cleanup_failed", message=message, retryable=True, step="cleanup")
        return ("in_progress" if dep.status in GONE else "pending"), None
    return _derive_update(task, dep)


def _derive_update(task: StoredTask, dep: Deployment) -> Derived | None:
    if dep.update is not None and dep.update.task_id == task.task_id and dep.status not in GONE:
        return "in_progress", None  # also after the switch, until the previous endpoint is gone
    if any(g.task_id == task.task_id for g in dep.generations):
        return "completed", None
    failed = next((f for f in dep.failed_updates if f.task_id == task.task_id), None)
    if failed is not None:
        return "failed", failed.error
    if dep.status in GONE or dep.status in PROVISIONING:
        return "failed", ErrorInfo(code="cancelled", message="the deployment was deleted during the update")
    return None


def settle(svc: Services, task: StoredTask, dep: Deployment | None = None) -> StoredTask:
    """Bring the stored task in line with its deployment (written only when it changed)."""
    if task.status in FINISHED:
        return task
    dep = dep or records.load(svc, task.deployment_id)
    found = derive(task, dep)
    if found is None or (found[0] == task.status and found[1] == task.error):
        return task
    status, error = found
    now = svc.now()

    def change(doc: Doc | None) -> Doc | None:
        if doc is None or doc.get("status") in FINISHED:
            return None
        if status != "pending" and not doc.get("started_at"):
            doc["started_at"] = iso(now)
        if status in FINISHED:
            doc["completed_at"] = iso(now)
        doc.update(status=status, error=error.model_dump() if error else None, updated_at=iso(now))
        return doc

    after, _ = svc.store.update(TASKS, task.task_id, change)
    return StoredTask.model_validate(after) if after else task


def settle_all(svc: Services, dep: Deployment) -> None:
    """Settle every unfinished task of a deployment (after a step committed a final move)."""
    for task in _of_deployment(svc, dep.deployment_id):
        settle(svc, task, dep)


def get(svc: Services, owner: str, task_id: str) -> Task:
    doc = svc.store.get(TASKS, task_id) if len(task_id) <= 200 else None
    if doc is None or not same(str(doc.get("owner")), owner):
        raise NotFoundError(f"Task {task_id} not found", {"task_id": task_id})
    return view(svc, settle(svc, StoredTask.model_validate(doc)))


def for_deployment(svc: Services, dep: Deployment) -> list[Task]:
    return [view(svc, settle(svc, t, dep), dep) for t in _of_deployment(svc, dep.deployment_id)]


def latest_for_model(svc: Services, owner: str, model_id: str, kinds: tuple[TaskKind, ...]) -> Task | None:
    """The tenant's newest task of these kinds on a model (seed 003's status-by-model routes)."""
    rows = svc.store.query(Query(TASKS, where=(Where("owner", "==", owner), Where("model_id", "==", model_id))))
    tasks = [StoredTask.model_validate(doc) for _, doc in rows]
    mine = sorted((t for t in tasks if t.kind in kinds), key=lambda t: t.created_at)
    return view(svc, settle(svc, mine[-1])) if mine else None


def view(svc: Services, task: StoredTask, dep: Deployment | None = None) -> Task:
    """The task as shown: its record, with where its deployment stands in the metadata."""
    dep = dep or records.load(svc, task.deployment_id)
    shown = Task.model_validate(task.model_dump(exclude={"owner"}))
    if dep is not None:
        shown.metadata = {
            **task.metadata,
            "deployment_status": dep.status.value,
            "endpoint_url": dep.endpoint_url,
            "runpod_endpoint_id": dep.runpod_endpoint_id,
            "generation": dep.generation,
        }
    return shown


def _of_deployment(svc: Services, deployment_id: str) -> list[StoredTask]:
    rows = svc.store.query(Query(TASKS, where=(Where("deployment_id", "==", deployment_id),)))
    return sorted((StoredTask.model_validate(doc) for _, doc in rows), key=lambda t: t.created_at)
