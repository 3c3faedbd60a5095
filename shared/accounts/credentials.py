"""A tenant's stored Runpod keys (AES-GCM at rest, shown only masked after creation) and the key each
deployment acts with. Replacing a key in use is shared.deploy.key_change."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING

from shared.accounts import credential_claims
from shared.accounts.credential_claims import CREDENTIALS
from shared.accounts.tenants import TENANTS
from shared.clients.runpod import RunpodError
from shared.platform.clock import iso
from shared.platform.crypto import CryptoError
from shared.platform.errors import ConflictError, NotFoundError, ValidationError
from shared.sandbox.keys import is_sandbox_key
from shared.schemas.credentials import CredentialCreate, CredentialView
from shared.schemas.states import Status
from shared.schemas.stored import DEPLOYMENTS, Deployment
from shared.services import Services
from shared.store import Query, Where
from shared.store.base import Doc

if TYPE_CHECKING:  # the client module brings httpx: kept off the cold path of reads
    from shared.clients.runpod import RunpodClient


class MissingCredential(CryptoError):
    """The stored credential a deployment refers to is gone: no key to act with."""


def mask(key: str) -> str:
    if is_sandbox_key(key):
        return key  # not a secret
    head = key[:4] if key.startswith("rpa_") else ""
    return f"{head}****{key[-4:]}" if len(key) > 8 else "****"


def find(svc: Services, tenant_id: str, cred_id: str) -> Doc:
    """The tenant's stored credential (404 for another tenant's or an unknown id)."""
    doc = svc.store.get(CREDENTIALS, cred_id) if len(cred_id) <= 64 else None
    if doc is None or doc["tenant_id"] != tenant_id:
        raise NotFoundError(f"Credential {cred_id} not found", {"credential_id": cred_id})
    return doc


def key_of(svc: Services, doc: Doc) -> str:
    """The Runpod key a stored credential holds, decrypted."""
    return svc.cipher.decrypt(doc["secret"], context=doc["id"])


def _view(doc: Doc, default: str | None) -> CredentialView:
    return CredentialView.model_validate({**doc, "is_default": doc["id"] == default})


def default_id(svc: Services, tenant_id: str) -> str | None:
    tenant = svc.store.get(TENANTS, tenant_id) or {}
    return tenant.get("default_credential_id")


def create(svc: Services, tenant_id: str, body: CredentialCreate) -> CredentialView:
    cred_id = f"cred_{secrets.token_hex(8)}"
    key = body.key()
    doc = {
        "id": cred_id,
        "tenant_id": tenant_id,
        "provider": body.provider,
        "name": body.name,
        "secret": svc.cipher.encrypt(key, context=cred_id),
        "masked_key": mask(key),
        "is_valid": None,
        "created_at": iso(svc.now()),
    }
    svc.store.create(CREDENTIALS, cred_id, doc)
    if body.is_default or default_id(svc, tenant_id) is None:
        set_default(svc, tenant_id, cred_id)
    return get(svc, tenant_id, cred_id)


def get(svc: Services, tenant_id: str, cred_id: str) -> CredentialView:
    return _view(find(svc, tenant_id, cred_id), default_id(svc, tenant_id))


def list_for(svc: Services, tenant_id: str) -> list[CredentialView]:
    default = default_id(svc, tenant_id)
    rows = svc.store.query(Query(CREDENTIALS, where=(Where("tenant_id", "==", tenant_id),)))
    return sorted((_view(doc, default) for _, doc in rows), key=lambda c: c.created_at)


def users(svc: Services, tenant_id: str, cred_id: str) -> list[str]:
    """Ids of the tenant's deployments not yet deleted that act with this credential."""
    rows = svc.store.query(Query(DEPLOYMENTS, where=(Where("credential_id", "==", cred_id),)))
    return sorted(
        doc["deployment_id"]
        for _, doc in rows
        if doc.get("owner") == tenant_id and doc.get("status") != Status.DELETED.value
    )


def delete(svc: Services, tenant_id: str, cred_id: str) -> None:
    """Refused (409, naming them) while deployments not yet deleted use it: they would lose their key."""
    find(svc, tenant_id, cred_id)
    creating = credential_claims.mark_deleting(svc, cred_id)
    if creating:
        raise ConflictError(
            f"Credential {cred_id} is being used to create {len(creating)} deployment(s) right now; retry shortly",
            {"credential_id": cred_id, "deployment_ids": creating[:100]},
            {"Retry-After": "2"},
        )
    in_use = users(svc, tenant_id, cred_id)
    if in_use:
        credential_claims.unmark(svc, cred_id)
        raise ConflictError(
            f"Credential {cred_id} is used by {len(in_use)} deployment(s); delete them or give them another key "
            "(POST /v1/deployments/{id}/credential) first",
            {"credential_id": cred_id, "deployment_ids": in_use[:100]},
        )
    svc.store.delete(CREDENTIALS, cred_id)
    svc.store.update(
        TENANTS,
        tenant_id,
        lambda t: {**t, "default_credential_id": None} if t and t.get("default_credential_id") == cred_id else None,
    )


def set_default(svc: Services, tenant_id: str, cred_id: str) -> CredentialView:
    find(svc, tenant_id, cred_id)
    svc.store.update(TENANTS, tenant_id, lambda t: {**t, "default_credential_id": cred_id} if t else None)
    return get(svc, tenant_id, cred_id)


def validate(svc: Services, tenant_id: str, cred_id: str) -> CredentialView:
    """A cheap authenticated Runpod call (list endpoints) tells whether the key works."""
    doc = find(svc, tenant_id, cred_id)
    error = None
    valid: bool | None = True
    key = key_of(svc, doc)
    try:
        if not is_sandbox_key(key):  # the sandbox key always works and never reaches Runpod
            with svc.runpod(key, tenant_id) as client:
                client.list_endpoints()
    except RunpodError as exc:
        valid = False if exc.kind in ("unauthorized", "forbidden") else None
        error = exc.message
    svc.store.update(
        CREDENTIALS,
        cred_id,
        lambda d: {**d, "is_valid": valid, "validated_at": iso(svc.now()), "validation_error": error} if d else None,
    )
    return get(svc, tenant_id, cred_id)


def key_source(svc: Services, tenant_id: str, inline: str | None, credential_id: str | None) -> tuple[str, str | None]:
    """The key a new deployment uses and the stored credential it comes from (None for an inline key):
    inline, a named credential, or the tenant's default."""
    if inline:
        return inline, None
    cred_id = credential_id or default_id(svc, tenant_id)
    if not cred_id:
        raise ValidationError(
            "No Runpod key: pass user_runpod_key or credential_id, or store a default credential "
            "(POST /v1/credentials)",
            {"field": "user_runpod_key"},
        )
    try:
        doc = find(svc, tenant_id, cred_id)
    except NotFoundError:
        raise ValidationError(f"Credential {cred_id} not found", {"field": "credential_id"}) from None
    if doc.get("deleting_at"):
        raise ValidationError(f"Credential {cred_id} is being deleted", {"field": "credential_id"})
    return key_of(svc, doc), cred_id


def deployment_key(svc: Services, dep: Deployment) -> str:
    """The Runpod key a deployment acts with. Every Runpod call made for a deployment goes through here.

    A deployment made from a stored credential reads that credential each time (so a new key given with
    PUT /v1/credentials/{id} applies at once); one made with an inline key has its own encrypted copy.
    Raises CryptoError (MissingCredential when its credential is gone)."""
    if dep.credential_id:
        doc = svc.store.get(CREDENTIALS, dep.credential_id)
        if doc is None or doc.get("tenant_id") != dep.owner:
            raise MissingCredential(f"credential {dep.credential_id} of {dep.deployment_id} no longer exists")
        return key_of(svc, doc)
    return svc.cipher.decrypt(dep.runpod_key, context=dep.deployment_id)


def deployment_runpod(svc: Services, dep: Deployment) -> RunpodClient:
    """A Runpod client acting with the deployment's key (see `deployment_key`)."""
    return svc.runpod(deployment_key(svc, dep), dep.owner)
