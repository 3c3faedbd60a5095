"""Replacing the Runpod key deployments act with: a stored credential's key (PUT /v1/credentials/{id}) or one
deployment's key (POST /v1/deployments/{id}/credential). A new key is checked against the endpoints they hold
first, so a key of another Runpod account cannot strand them."""

from __future__ import annotations

from shared.accounts.credential_claims import CREDENTIALS
from shared.accounts.credentials import find, get, key_of, mask, users
from shared.clients.runpod import RunpodError
from shared.deploy import records
from shared.platform.errors import ConflictError, NotFoundError, ServiceUnavailableError, ValidationError
from shared.sandbox.keys import SANDBOX_KEY, is_sandbox_key
from shared.schemas.credentials import (
    CredentialUpdate,
    CredentialView,
    DeploymentCredential,
    DeploymentCredentialChange,
)
from shared.schemas.states import Status
from shared.schemas.stored import Deployment
from shared.services import Services
from shared.store.base import Doc


def check_reach(svc: Services, key: str, deps: list[Deployment]) -> None:
    """Refuse a key that sees none of the endpoints these deployments hold (409 naming them).

    A key of another Runpod account gets a 404 for them: the cleanup would take that for "already
    gone", report the deployment deleted and leave its endpoint billing where no one reaches it.
    """
    holding = [d for d in deps if d.runpod_endpoint_id and d.endpoint_deleted_at is None and d.status != Status.DELETED]
    if not holding:
        return
    try:
        with svc.runpod(key, holding[0].owner) as client:
            visible = {str(e.get("id")) for e in client.list_endpoints()}
    except RunpodError as exc:
        if exc.kind in ("unauthorized", "forbidden"):
            raise ValidationError(f"Runpod refused this key: {exc.message}", {"field": "api_key"}) from None
        raise ServiceUnavailableError(
            f"Cannot check the key with Runpod now ({exc.message}); nothing was changed, retry",
            headers={"Retry-After": "5"},
        ) from None
    blind = sorted(d.deployment_id for d in holding if d.runpod_endpoint_id not in visible)
    if len(blind) == len(holding):  # seeing some proves the account; the others were removed by hand
        raise ConflictError(
            f"This key cannot see the Runpod endpoint of {len(blind)} deployment(s) (a key of another Runpod "
            "account?); nothing was changed",
            {"deployment_ids": blind[:100]},
        )


def same_world(old: str, new: str, field: str) -> None:
    """A key never moves a deployment between the sandbox and Runpod: its endpoint lives in one of them."""
    if is_sandbox_key(old) != is_sandbox_key(new):
        raise ValidationError("A key cannot move deployments between the sandbox and Runpod", {"field": field})


def replace(svc: Services, tenant_id: str, cred_id: str, body: CredentialUpdate) -> CredentialView:
    """A new key for a stored credential: deployments refer to it, so they all act with the new key at once."""
    key = body.api_key.get_secret_value()
    same_world(key_of(svc, find(svc, tenant_id, cred_id)), key, "api_key")
    check_reach(svc, key, [d for i in users(svc, tenant_id, cred_id) if (d := records.load(svc, i)) is not None])
    secret = svc.cipher.encrypt(key, context=cred_id)

    def change(doc: Doc | None) -> Doc | None:
        if doc is None or doc.get("tenant_id") != tenant_id:
            return None
        renamed = {"name": body.name} if body.name else {}
        return {**doc, **renamed, "secret": secret, "masked_key": mask(key), "is_valid": None,
                "validated_at": None, "validation_error": None}  # fmt: skip

    after, changed = svc.store.update(CREDENTIALS, cred_id, change)
    if after is None or not changed:
        raise NotFoundError(f"Credential {cred_id} not found", {"credential_id": cred_id})
    return get(svc, tenant_id, cred_id)


def change_deployment_key(svc: Services, dep: Deployment, body: DeploymentCredentialChange) -> DeploymentCredential:
    """Give a deployment (inline or not) a new key: its own inline copy, or a stored credential by reference.

    `dep` is the caller's deployment as found for its tenant (shared.deploy.records.owned)."""
    deployment_id = dep.deployment_id
    if dep.status == Status.DELETED:
        raise ConflictError(f"Deployment {deployment_id} is deleted", {"deployment_id": deployment_id})
    if body.credential_id is not None:
        try:
            doc = find(svc, dep.owner, body.credential_id)
        except NotFoundError:
            raise ValidationError(f"Credential {body.credential_id} not found", {"field": "credential_id"}) from None
        cred_id: str | None = body.credential_id
        inline, masked = "", doc["masked_key"]
        same_world(SANDBOX_KEY if dep.sandbox else "", key_of(svc, doc), "credential_id")
        check_reach(svc, key_of(svc, doc), [dep])
    else:
        key = body.user_runpod_key.get_secret_value() if body.user_runpod_key else ""
        same_world(SANDBOX_KEY if dep.sandbox else "", key, "user_runpod_key")
        check_reach(svc, key, [dep])
        cred_id, inline, masked = None, svc.cipher.encrypt(key, context=deployment_id), mask(key)

    def change(d: Deployment) -> Deployment | None:
        if d.status == Status.DELETED:
            return None
        d.credential_id, d.runpod_key = cred_id, inline
        return d

    after, changed = records.mutate(svc, deployment_id, change)
    if after is None or not changed:
        raise ConflictError(f"Deployment {deployment_id} is deleted", {"deployment_id": deployment_id})
    source = f"stored credential {cred_id}" if cred_id else "a new inline key"
    records.log(svc, deployment_id, "INFO", f"Runpod key replaced: now {source} ({masked})", at=after)
    return DeploymentCredential(deployment_id=deployment_id, credential_id=cred_id, masked_key=masked)
