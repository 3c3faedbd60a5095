"""A tenant's stored Runpod keys: AES-GCM at rest (shared.crypto), shown only masked after creation."""

from __future__ import annotations

import secrets
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from shared.errors import NotFoundError, ValidationError
from shared.models import Deployment
from shared.runpod import RunpodClient, RunpodError
from shared.services import Services
from shared.store import Query, Where
from shared.tenants import TENANTS
from shared.timeutil import Timestamp, iso

CREDENTIALS = "credentials"


class CredentialCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    provider: Literal["runpod"] = "runpod"
    name: str = Field(default="Runpod", min_length=1, max_length=100)
    api_key: SecretStr | None = Field(default=None, min_length=1, max_length=512)
    credentials: dict[str, SecretStr] | None = Field(default=None, description='Seed 004 form: {"api_key": "..."}')
    is_default: bool = False

    @model_validator(mode="after")
    def _one_key(self) -> CredentialCreate:
        if self.api_key is None and not (self.credentials and "api_key" in self.credentials):
            raise ValueError("give api_key (or credentials.api_key)")
        return self

    def key(self) -> str:
        if self.api_key is not None:
            return self.api_key.get_secret_value()
        return (self.credentials or {})["api_key"].get_secret_value()


class CredentialView(BaseModel):
    id: str
    provider: str
    name: str
    masked_key: str
    is_default: bool
    is_valid: bool | None
    validated_at: Timestamp | None = None
    validation_error: str | None = None
    created_at: Timestamp


def mask(key: str) -> str:
    head = key[:4] if key.startswith("rpa_") else ""
    return f"{head}****{key[-4:]}" if len(key) > 8 else "****"


def _doc(svc: Services, tenant_id: str, cred_id: str) -> dict:
    doc = svc.store.get(CREDENTIALS, cred_id) if len(cred_id) <= 64 else None
    if doc is None or doc["tenant_id"] != tenant_id:
        raise NotFoundError(f"Credential {cred_id} not found", {"credential_id": cred_id})
    return doc


def _view(doc: dict, default_id: str | None) -> CredentialView:
    return CredentialView.model_validate({**doc, "is_default": doc["id"] == default_id})


def _default_id(svc: Services, tenant_id: str) -> str | None:
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
    if body.is_default or _default_id(svc, tenant_id) is None:
        set_default(svc, tenant_id, cred_id)
    return get(svc, tenant_id, cred_id)


def get(svc: Services, tenant_id: str, cred_id: str) -> CredentialView:
    return _view(_doc(svc, tenant_id, cred_id), _default_id(svc, tenant_id))


def list_for(svc: Services, tenant_id: str) -> list[CredentialView]:
    default = _default_id(svc, tenant_id)
    rows = svc.store.query(Query(CREDENTIALS, where=(Where("tenant_id", "==", tenant_id),)))
    return sorted((_view(doc, default) for _, doc in rows), key=lambda c: c.created_at)


def delete(svc: Services, tenant_id: str, cred_id: str) -> None:
    _doc(svc, tenant_id, cred_id)
    svc.store.delete(CREDENTIALS, cred_id)
    svc.store.update(
        TENANTS,
        tenant_id,
        lambda t: {**t, "default_credential_id": None} if t and t.get("default_credential_id") == cred_id else None,
    )


def set_default(svc: Services, tenant_id: str, cred_id: str) -> CredentialView:
    _doc(svc, tenant_id, cred_id)
    svc.store.update(TENANTS, tenant_id, lambda t: {**t, "default_credential_id": cred_id} if t else None)
    return get(svc, tenant_id, cred_id)


def validate(svc: Services, tenant_id: str, cred_id: str) -> CredentialView:
    """A cheap authenticated Runpod call (list endpoints) tells whether the key works."""
    doc = _doc(svc, tenant_id, cred_id)
    error = None
    try:
        with svc.runpod(svc.cipher.decrypt(doc["secret"], context=cred_id)) as client:
            client.list_endpoints()
        valid: bool | None = True
    except RunpodError as exc:
        valid = False if exc.kind in ("unauthorized", "forbidden") else None
        error = exc.message
    svc.store.update(
        CREDENTIALS,
        cred_id,
        lambda d: {**d, "is_valid": valid, "validated_at": iso(svc.now()), "validation_error": error} if d else None,
    )
    return get(svc, tenant_id, cred_id)


def runpod_key_for(svc: Services, tenant_id: str, inline: str | None, credential_id: str | None) -> str:
    """The key a new deployment uses: inline, a named credential, or the tenant's default."""
    if inline:
        return inline
    cred_id = credential_id or _default_id(svc, tenant_id)
    if not cred_id:
        raise ValidationError(
            "No Runpod key: pass user_runpod_key or credential_id, or store a default credential "
            "(POST /v1/credentials)",
            {"field": "user_runpod_key"},
        )
    try:
        doc = _doc(svc, tenant_id, cred_id)
    except NotFoundError:
        raise ValidationError(f"Credential {cred_id} not found", {"field": "credential_id"}) from None
    return svc.cipher.decrypt(doc["secret"], context=cred_id)


def deployment_key(svc: Services, dep: Deployment) -> str:
    """The Runpod key a deployment acts with. Every Runpod call made for a deployment goes through here."""
    return svc.cipher.decrypt(dep.runpod_key, context=dep.deployment_id)


def deployment_runpod(svc: Services, dep: Deployment) -> RunpodClient:
    """A Runpod client acting with the deployment's key (see `deployment_key`)."""
    return svc.runpod(deployment_key(svc, dep))
