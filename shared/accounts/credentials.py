"""A tenant's stored Runpod keys: AES-GCM at rest (shared.platform.crypto), shown only masked after creation."""

from __future__ import annotations

import secrets
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from shared.accounts.tenants import TENANTS
from shared.clients.header_tokens import check_token
from shared.clients.runpod import RunpodClient, RunpodError
from shared.deploy import records
from shared.deploy.states import Status
from shared.platform.clock import Timestamp, iso
from shared.platform.crypto import CryptoError
from shared.platform.errors import ConflictError, NotFoundError, ServiceUnavailableError, ValidationError
from shared.schemas.stored import Deployment
from shared.services import Services
from shared.store import Query, Where

CREDENTIALS = "credentials"


class MissingCredential(CryptoError):
    """The stored credential a deployment refers to is gone: no key to act with."""


def _checked(value: SecretStr | None) -> SecretStr | None:
    if value is not None:
        check_token(value.get_secret_value())
    return value


class CredentialCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    provider: Literal["runpod"] = "runpod"
    name: str = Field(default="Runpod", min_length=1, max_length=100)
    api_key: SecretStr | None = Field(default=None, min_length=1, max_length=512)
    credentials: dict[str, SecretStr] | None = Field(default=None, description='Seed 004 form: {"api_key": "..."}')
    is_default: bool = False

    @field_validator("api_key")
    @classmethod
    def _header_token(cls, value: SecretStr | None) -> SecretStr | None:
        return _checked(value)

    @field_validator("credentials")
    @classmethod
    def _header_tokens(cls, value: dict[str, SecretStr] | None) -> dict[str, SecretStr] | None:
        for secret in (value or {}).values():
            _checked(secret)
        return value

    @model_validator(mode="after")
    def _one_key(self) -> CredentialCreate:
        if self.api_key is None and not (self.credentials and "api_key" in self.credentials):
            raise ValueError("give api_key (or credentials.api_key)")
        return self

    def key(self) -> str:
        if self.api_key is not None:
            return self.api_key.get_secret_value()
        return (self.credentials or {})["api_key"].get_secret_value()


class CredentialUpdate(BaseModel):
    """PUT /v1/credentials/{id}: a new key (after a rotation at Runpod); every deployment using it follows."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    api_key: SecretStr = Field(min_length=1, max_length=512)
    name: str | None = Field(default=None, min_length=1, max_length=100)

    @field_validator("api_key")
    @classmethod
    def _header_token(cls, value: SecretStr) -> SecretStr:
        check_token(value.get_secret_value())
        return value


class DeploymentCredentialChange(BaseModel):
    """POST /v1/deployments/{id}/credential: exactly one of a new inline key or a stored credential."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    user_runpod_key: SecretStr | None = Field(default=None, min_length=1, max_length=512)
    credential_id: str | None = Field(default=None, min_length=1, max_length=64)

    @field_validator("user_runpod_key")
    @classmethod
    def _header_token(cls, value: SecretStr | None) -> SecretStr | None:
        return _checked(value)

    @model_validator(mode="after")
    def _exactly_one(self) -> DeploymentCredentialChange:
        if (self.user_runpod_key is None) == (self.credential_id is None):
            raise ValueError("give exactly one of user_runpod_key or credential_id")
        return self


class DeploymentCredential(BaseModel):
    deployment_id: str
    credential_id: str | None = Field(description="The stored credential it uses; null for its own inline key")
    masked_key: str


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


def users(svc: Services, tenant_id: str, cred_id: str) -> list[str]:
    """Ids of the tenant's deployments not yet deleted that act with this credential."""
    rows = svc.store.query(Query(records.DEPLOYMENTS, where=(Where("credential_id", "==", cred_id),)))
    return sorted(
        doc["deployment_id"]
        for _, doc in rows
        if doc.get("owner") == tenant_id and doc.get("status") != Status.DELETED.value
    )


def delete(svc: Services, tenant_id: str, cred_id: str) -> None:
    """Refused (409, naming them) while deployments not yet deleted use it: they would lose their key."""
    _doc(svc, tenant_id, cred_id)
    in_use = users(svc, tenant_id, cred_id)
    if in_use:
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


def replace(svc: Services, tenant_id: str, cred_id: str, body: CredentialUpdate) -> CredentialView:
    """A new key for a stored credential: deployments refer to it, so they all act with the new key at once."""
    _doc(svc, tenant_id, cred_id)
    key = body.api_key.get_secret_value()
    check_reach(svc, key, [d for i in users(svc, tenant_id, cred_id) if (d := records.load(svc, i)) is not None])
    secret = svc.cipher.encrypt(key, context=cred_id)

    def change(doc: dict | None) -> dict | None:
        if doc is None or doc.get("tenant_id") != tenant_id:
            return None
        renamed = {"name": body.name} if body.name else {}
        return {**doc, **renamed, "secret": secret, "masked_key": mask(key), "is_valid": None,
                "validated_at": None, "validation_error": None}  # fmt: skip

    after, changed = svc.store.update(CREDENTIALS, cred_id, change)
    if after is None or not changed:
        raise NotFoundError(f"Credential {cred_id} not found", {"credential_id": cred_id})
    return get(svc, tenant_id, cred_id)


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


def key_source(svc: Services, tenant_id: str, inline: str | None, credential_id: str | None) -> tuple[str, str | None]:
    """The key a new deployment uses and the stored credential it comes from (None for an inline key):
    inline, a named credential, or the tenant's default."""
    if inline:
        return inline, None
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
    return svc.cipher.decrypt(doc["secret"], context=cred_id), cred_id


def runpod_key_for(svc: Services, tenant_id: str, inline: str | None, credential_id: str | None) -> str:
    """The key a new deployment uses (see `key_source`)."""
    return key_source(svc, tenant_id, inline, credential_id)[0]


def deployment_key(svc: Services, dep: Deployment) -> str:
    """The Runpod key a deployment acts with. Every Runpod call made for a deployment goes through here.

    A deployment made from a stored credential reads that credential each time (so a new key given with
    PUT /v1/credentials/{id} applies at once); one made with an inline key has its own encrypted copy.
    Raises CryptoError (MissingCredential when its credential is gone)."""
    if dep.credential_id:
        doc = svc.store.get(CREDENTIALS, dep.credential_id)
        if doc is None or doc.get("tenant_id") != dep.owner:
            raise MissingCredential(f"credential {dep.credential_id} of {dep.deployment_id} no longer exists")
        return svc.cipher.decrypt(doc["secret"], context=dep.credential_id)
    return svc.cipher.decrypt(dep.runpod_key, context=dep.deployment_id)


def keep_own_copy(svc: Services, deployment_id: str) -> None:
    """Copy a deployment's referenced key onto the deployment itself, so its credential can go.

    A tenant's forced delete removes its credentials while the cleanup of its deployments still needs the key.
    """

    def change(d: Deployment) -> Deployment | None:
        if not d.credential_id:
            return None
        d.runpod_key = svc.cipher.encrypt(deployment_key(svc, d), context=d.deployment_id)
        d.credential_id = None
        return d

    records.mutate(svc, deployment_id, change)


def deployment_runpod(svc: Services, dep: Deployment) -> RunpodClient:
    """A Runpod client acting with the deployment's key (see `deployment_key`)."""
    return svc.runpod(deployment_key(svc, dep))


def check_reach(svc: Services, key: str, deps: list[Deployment]) -> None:
    """Refuse a key that sees none of the endpoints these deployments hold (409 naming them).

    A key of another Runpod account gets a 404 for them: the cleanup would take that for "already
    gone", report the deployment deleted and leave its endpoint billing where no one reaches it.
    """
    holding = [d for d in deps if d.runpod_endpoint_id and d.endpoint_deleted_at is None and d.status != Status.DELETED]
    if not holding:
        return
    try:
        with svc.runpod(key) as client:
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


def change_deployment_key(
    svc: Services, tenant_id: str, deployment_id: str, body: DeploymentCredentialChange
) -> DeploymentCredential:
    """Give a deployment (inline or not) a new key: its own inline copy, or a stored credential by reference."""
    dep = records.owned(svc, tenant_id, deployment_id)
    if dep.status == Status.DELETED:
        raise ConflictError(f"Deployment {deployment_id} is deleted", {"deployment_id": deployment_id})
    if body.credential_id is not None:
        try:
            doc = _doc(svc, tenant_id, body.credential_id)
        except NotFoundError:
            raise ValidationError(f"Credential {body.credential_id} not found", {"field": "credential_id"}) from None
        cred_id: str | None = body.credential_id
        inline, masked = "", doc["masked_key"]
        check_reach(svc, svc.cipher.decrypt(doc["secret"], context=body.credential_id), [dep])
    else:
        key = body.user_runpod_key.get_secret_value() if body.user_runpod_key else ""
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
