"""What a tenant's status means for its deployments, so nothing of a suspended or deleted tenant keeps billing.

- Suspending a tenant pauses its deployments (workers 0/0, `paused_reason: tenant_suspended`); one still
  being set up is paused as soon as it is ready (finalize honours the reason). Deployments the user had
  paused stay as they are.
- Reactivating it resumes exactly the deployments the suspension paused.
- Deleting a tenant that still has deployments holding a Runpod endpoint, or stored credentials, is
  refused with a 409 that lists them; `force=True` deletes every deployment as a DELETE would (the
  endpoint removed and verified gone by the cleanup step) and the credentials, then the tenant.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from shared.accounts import credentials, tenants
from shared.accounts.credential_claims import CREDENTIALS
from shared.deploy import records, tenant_budgets
from shared.deploy.delete import request_deletion
from shared.deploy.desired_state import ScalingFailed, converge, desire
from shared.platform.errors import ConflictError
from shared.schemas.accounts import TenantUpdate
from shared.schemas.states import PROVISIONING, SERVING, Status
from shared.schemas.stored import Deployment
from shared.schemas.stored_accounts import Tenant
from shared.services import Services
from shared.store import Query, Where

log = logging.getLogger(__name__)

SUSPENDED = "tenant_suspended"
MAX_LISTED = 100
Change = Callable[[Deployment], bool]  # a desired-state change (shared/deploy/desired_state.py)


def update_tenant(svc: Services, tenant_id: str, body: TenantUpdate) -> Tenant:
    """PATCH /admin/tenants/{id}: the update, then its deployments follow the tenant's status (idempotent)."""
    tenant = tenants.update_tenant(svc, tenant_id, body)
    if tenant.status == "suspended":
        pause_all(svc, tenant_id)
    elif tenant.status == "active":
        resume_all(svc, tenant_id)
    if body.budget is not None:
        tenant_budgets.lift(svc, tenant_id)
        tenant_budgets.check(svc, tenant_id)
    return tenants.get_tenant(svc, tenant_id)


def _owned(svc: Services, tenant_id: str) -> list[Deployment]:
    rows = svc.store.query(Query(records.DEPLOYMENTS, where=(Where("owner", "==", tenant_id),)))
    return [Deployment.model_validate(doc) for _, doc in rows]


def pause_all(svc: Services, tenant_id: str) -> int:
    """Pause every serving deployment of the tenant; mark provisioning ones to pause once ready."""
    return _apply_all(svc, tenant_id, pause_change(svc), "Paused: the tenant was suspended")


def pause_change(svc: Services) -> Change:
    """The desired-state change that pauses one deployment for its tenant's suspension (False: nothing to do)."""

    def change(d: Deployment) -> bool:
        if d.status in SERVING:
            d.status, d.paused_at, d.paused_reason = Status.PAUSED, svc.now(), SUSPENDED
            return True
        if d.status in PROVISIONING and d.paused_reason is None:
            d.paused_reason = SUSPENDED
            return True
        return False

    return change


def follow_tenant(svc: Services, dep: Deployment) -> str | None:
    """Bring one deployment in line with its tenant's status: deleted with a deleted tenant, paused with a
    suspended one. A create that raced with the admin's DELETE or suspension (it passed authentication
    just before) is caught here by the reconciler. Returns what was done, or None."""
    tenant = svc.store.get(tenants.TENANTS, dep.owner) or {}
    status = tenant.get("status")
    if status == "deleted" and dep.status not in (Status.DELETING, Status.CLEANUP_FAILED, Status.DELETED):
        if dep.credential_id:
            try:
                keep_own_copy(svc, dep.deployment_id)
            except Exception:  # its credential is gone too: the cleanup says so visibly
                log.warning("deployment %s of deleted tenant %s has no readable key", dep.deployment_id, dep.owner)
        request_deletion(svc, dep)
        records.log(svc, dep.deployment_id, "WARNING", f"Reconciler: tenant {dep.owner} is deleted; deleting")
        return "deleted_with_tenant"
    if status == "suspended" and _change_workers(
        svc, dep.deployment_id, pause_change(svc), "Paused: the tenant was suspended (reconciler)"
    ):
        return "paused_with_tenant"
    return None


def resume_all(svc: Services, tenant_id: str) -> int:
    """Resume the deployments the suspension paused (not those the user paused)."""

    def change(d: Deployment) -> bool:
        if d.paused_reason != SUSPENDED:
            return False
        if d.status == Status.PAUSED:
            d.status, d.paused_at = Status.READY, None
        d.paused_reason = None
        return True

    return _apply_all(svc, tenant_id, change, "Resumed: the tenant was reactivated")


def _apply_all(svc: Services, tenant_id: str, change: Change, message: str) -> int:
    return sum(_change_workers(svc, dep.deployment_id, change, message) for dep in _owned(svc, tenant_id))


def _change_workers(svc: Services, deployment_id: str, change: Change, message: str) -> bool:
    """Desire `change` and apply it to Runpod; True when it changed the deployment."""
    after, changed = desire(svc, deployment_id, change, undoable=False)
    if not changed or after is None:
        return False
    records.log(svc, deployment_id, "INFO", message, at=after)
    try:
        converge(svc, deployment_id, after.scaling.gen)
    except ScalingFailed as exc:  # kept as desired: the reconciler's drift check applies it
        log.warning("workers of %s not applied yet: %s", deployment_id, exc.message)
    return True


def _holds_endpoint(dep: Deployment) -> bool:
    if dep.status == Status.DELETED:
        return False
    return not (dep.status == Status.FAILED and dep.endpoint_deleted_at is not None)


def delete_tenant(svc: Services, tenant_id: str, force: bool = False) -> None:
    """DELETE /admin/tenants/{id}: refused while the tenant has anything left, unless `force` cascades."""
    tenants.get_tenant(svc, tenant_id)
    live = [d for d in _owned(svc, tenant_id) if _holds_endpoint(d)]
    creds = [doc["id"] for _, doc in svc.store.query(Query(CREDENTIALS, where=(Where("tenant_id", "==", tenant_id),)))]
    if (live or creds) and not force:
        raise ConflictError(
            f"Tenant {tenant_id} still has {len(live)} deployment(s) and {len(creds)} stored credential(s); "
            "delete them first, or repeat with ?force=true to delete them all",
            {
                "deployments": [d.deployment_id for d in live][:MAX_LISTED],
                "credentials": creds[:MAX_LISTED],
                "force": "?force=true",
            },
        )
    for dep in live:
        if dep.credential_id:
            keep_own_copy(svc, dep.deployment_id)  # cleanup needs the key after the credential is gone
        request_deletion(svc, dep)  # the cleanup step removes and verifies the endpoint
    for cred_id in creds:
        svc.store.delete(CREDENTIALS, cred_id)
    tenants.delete_tenant(svc, tenant_id)


def keep_own_copy(svc: Services, deployment_id: str) -> None:
    """Copy a deployment's referenced key onto the deployment itself, so its credential can go.

    A tenant's forced delete removes its credentials while the cleanup of its deployments still needs the key.
    """

    def change(d: Deployment) -> Deployment | None:
        if not d.credential_id:
            return None
        d.runpod_key = svc.cipher.encrypt(credentials.deployment_key(svc, d), context=d.deployment_id)
        d.credential_id = None
        return d

    records.mutate(svc, deployment_id, change)
