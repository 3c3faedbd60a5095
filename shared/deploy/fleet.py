"""The operator's fleet: every tenant's deployments (and the operator's own nodes), found, listed and
terminated across owners; and whose Runpod key an admin launch runs with.

The operator's own nodes (an admin launch without tenant_id) are owned by OPERATOR, which no tenant id can
be: tenants reach them only through shared inference (shared/proxy/routing.py)."""

from __future__ import annotations

from shared.accounts import credentials, tenants
from shared.catalog.gpu_pools import SelectionError, resolve_tier
from shared.deploy import delete, listing, purge, records, tasks
from shared.platform.errors import DeploymentNotFoundError, ValidationError
from shared.schemas.states import Status
from shared.schemas.stored import Deployment
from shared.services import Services
from shared.store import Where

OPERATOR = records.OPERATOR
MAX_ID = 128


def tenant_of(dep: Deployment) -> str | None:
    return None if dep.owner == OPERATOR else dep.owner


def find(svc: Services, deployment_id: str) -> Deployment:
    """Any owner's deployment (404 for an unknown id; a purged one is unknown)."""
    dep = records.load(svc, deployment_id) if len(deployment_id) <= MAX_ID else None
    if dep is None:
        raise DeploymentNotFoundError(f"Deployment {deployment_id} not found", {"deployment_id": deployment_id})
    return dep


def list_fleet(
    svc: Services,
    *,
    tenant_id: str | None,
    status: str | None,
    model: str | None,
    gpu: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[Deployment], str | None]:
    """Every owner's deployments, newest first, by keyset pages; `gpu` is a GPU name or a pool id."""
    listing.check_status(status)
    where: list[Where] = []
    if tenant_id:
        where.append(Where("owner", "==", tenant_id))
    if status:
        where.append(Where("status", "==", status))
    if model:
        where.append(Where("model_id", "==", model))
    if gpu:
        try:
            pool = resolve_tier(gpu)
        except SelectionError as exc:
            raise ValidationError(exc.message, {"field": "gpu"}) from None
        if pool is not None:  # "auto" filters nothing
            where.append(Where("gpu_allocated", "==", pool.id))
    return listing.page(svc, where, limit, cursor)


def terminate(svc: Services, dep: Deployment, *, purge_record: bool) -> tuple[Deployment, str, str]:
    """Start the deletion whoever owns it (again after a failed one); with purge_record, the record and its
    logs go once the endpoint is verified gone: (the deployment as it now stands, the delete task, the
    purge state: none, pending or done)."""
    task_id = tasks.delete_task_id(dep.deployment_id)
    if dep.status not in (Status.DELETING, Status.DELETED):
        task_id = delete.request_deletion(svc, dep)
    state = "none"
    if purge_record:
        purge.request(svc, dep.deployment_id)
        state = "done" if purge.purge_if_gone(svc, dep.deployment_id) else "pending"
    return records.load(svc, dep.deployment_id) or dep, task_id, state


def launch_owner(svc: Services, tenant_id: str | None) -> str:
    return tenants.get_tenant(svc, tenant_id).id if tenant_id else OPERATOR


def launch_key(svc: Services, tenant_id: str | None, credential_id: str | None) -> str | None:
    """The inline key an admin launch runs with: None when a tenant's credential (named, or its default)
    provides it, else the operator's (OPERATOR_RUNPOD_API_KEY); without any, a 422."""
    if credential_id and not tenant_id:
        raise ValidationError("credential_id needs the tenant_id it belongs to", {"field": "tenant_id"})
    if credential_id or (tenant_id and credentials.default_id(svc, tenant_id)):
        return None
    operator = svc.settings.operator_runpod_api_key
    if operator is None or not operator.get_secret_value():
        raise ValidationError(
            "No Runpod key for this launch: set OPERATOR_RUNPOD_API_KEY, or give tenant_id and credential_id "
            "(a credential of that tenant, POST /admin/credentials)",
            {"field": "credential_id"},
        )
    return operator.get_secret_value()
