"""DELETE /v1/deployments/{id}: the cleanup step removes the endpoint (and verifies it gone); the
deployment's name is free at once."""

from __future__ import annotations

from shared.deploy import engine, records, tasks
from shared.deploy.deployment_names import release_name
from shared.schemas.stored import Deployment
from shared.services import Services


def delete(svc: Services, owner: str, deployment_id: str) -> str:
    """Request the deletion; the id of its task."""
    return request_deletion(svc, records.owned(svc, owner, deployment_id))


def request_deletion(svc: Services, dep: Deployment) -> str:
    """Also how a deleted tenant's deployments go (shared/deploy/tenant_cascade.py). A DELETE during a
    green update supersedes its step: cleanup removes the green endpoint with the serving one."""
    task_id = tasks.delete_task_id(dep.deployment_id)
    tasks.open_task(svc, dep, "delete", task_id)
    engine.request_delete(svc, dep.deployment_id)
    release_name(svc, dep)
    return task_id
