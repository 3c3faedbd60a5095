"""Tenants and their API keys. A key is shown once, stored only as a SHA-256 hash, checked in constant time."""

from __future__ import annotations

import hashlib
import secrets

from pydantic import BaseModel

from shared.accounts.webhook_secrets import mint, seal
from shared.platform.clock import iso
from shared.platform.crypto import same
from shared.platform.errors import NotFoundError, UnauthorizedError
from shared.schemas.accounts import ApiKeyCreated, ApiKeyView, TenantCreate, TenantUpdate
from shared.schemas.stored_accounts import Tenant
from shared.services import Services
from shared.store import Query, Where
from shared.store.base import Doc

TENANTS = "tenants"
API_KEYS = "api_keys"
BOOTSTRAP_PREFIX = "tenant_boot_"
KEY_PREFIX = "do_live_"


class Principal(BaseModel):
    tenant_id: str
    key_hash: str
    tier: str = "free"  # read from the tenant's record on every request: a tier change applies at once

    @property
    def owner(self) -> str:
        return self.tenant_id


def key_hash(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


# ---- tenants ------------------------------------------------------------------------------------


def create_tenant(svc: Services, body: TenantCreate, tenant_id: str | None = None) -> Tenant:
    """Every tenant has its webhook signing secret from the start, so deliveries and GET /v1/webhooks/secret
    have one (an older record without one gets it on first use: shared.webhooks.signing.secrets_for)."""
    new_id = tenant_id or f"tenant_{secrets.token_hex(8)}"
    tenant = Tenant(
        id=new_id,
        name=body.name,
        email=body.email,
        tier=body.tier,
        created_at=svc.now(),
        webhook_secret=seal(svc, new_id, mint()),
    )
    svc.store.create(TENANTS, tenant.id, tenant.model_dump(mode="json"))
    return get_tenant(svc, tenant.id)


def _live(doc: Doc | None) -> bool:
    return doc is not None and doc.get("status") != "deleted"


def get_tenant(svc: Services, tenant_id: str) -> Tenant:
    ensure_bootstrap_tenants(svc)
    doc = svc.store.get(TENANTS, tenant_id) if len(tenant_id) <= 64 else None
    if not _live(doc):
        raise NotFoundError(f"Tenant {tenant_id} not found", {"tenant_id": tenant_id})
    return Tenant.model_validate(doc)


def list_tenants(svc: Services) -> list[Tenant]:
    ensure_bootstrap_tenants(svc)
    rows = svc.store.query(Query(TENANTS, order_by=(("created_at", "desc"),), limit=1000))
    return [Tenant.model_validate(doc) for _, doc in rows if _live(doc)]


def update_tenant(svc: Services, tenant_id: str, body: TenantUpdate) -> Tenant:
    ensure_bootstrap_tenants(svc)

    def change(doc: Doc | None) -> Doc | None:
        if doc is None or not _live(doc):
            return None
        changes = body.model_dump(exclude_none=True)
        if body.tier is not None:  # an admin's choice: the bootstrap upgrade below never overrides it
            changes["tier_updated_at"] = iso(svc.now())
        if body.budget is not None:  # a new budget starts over: thresholds and its action
            changes["budget_state"] = None
        return {**doc, **changes}

    doc, _ = svc.store.update(TENANTS, tenant_id, change) if len(tenant_id) <= 64 else (None, False)
    if not _live(doc):
        raise NotFoundError(f"Tenant {tenant_id} not found", {"tenant_id": tenant_id})
    return Tenant.model_validate(doc)


def delete_tenant(svc: Services, tenant_id: str) -> None:
    """Revokes its keys and leaves a tombstone (status `deleted`, secrets dropped): every key of it stops at
    once, bootstrap keys (API_KEYS) included, and a bootstrap tenant is not re-created on their next use."""
    get_tenant(svc, tenant_id)
    for key in list_keys(svc, tenant_id):
        revoke_key(svc, key.id, tenant_id)

    def bury(doc: Doc | None) -> Doc | None:
        if doc is None or not _live(doc):
            return None
        kept: Doc = {k: doc[k] for k in ("id", "name", "email", "tier", "created_at") if k in doc}
        return {**kept, "status": "deleted", "deleted_at": iso(svc.now())}

    svc.store.update(TENANTS, tenant_id, bury)


# ---- bootstrap keys (API_KEYS) ------------------------------------------------------------------


def bootstrap_tenant_id(key: str) -> str:
    """A bootstrap key's own tenant: stable across restarts and instances, derived from the key."""
    return BOOTSTRAP_PREFIX + key_hash(key)[:16]


def bootstrap_tenants(svc: Services) -> dict[str, str]:
    """SHA-256 of each API_KEYS key → its tenant: the explicit one (`tenant:key`) or its own."""
    cached = svc.extras.get("bootstrap_tenants")
    if cached is None:
        cached = {key_hash(key): tenant or bootstrap_tenant_id(key) for tenant, key in svc.settings.api_key_entries}
        svc.extras["bootstrap_tenants"] = cached
    return cached


def _ensure_bootstrap_tenant(svc: Services, tenant_id: str) -> None:
    """Create a bootstrap tenant unless a record exists; a tombstone (deleted) counts as existing.

    Bootstrap tenants are `enterprise` (the operator's own keys). One recorded before tiers meant anything
    says `free` without an admin having chosen it (no tier_updated_at): it is raised to `enterprise` once."""
    doc = svc.store.get(TENANTS, tenant_id)
    if doc is None:
        body = TenantCreate(name="Bootstrap (API_KEYS)", email="local@localhost.localdomain", tier="enterprise")
        create_tenant(svc, body, tenant_id)
    elif doc.get("tier", "free") == "free" and not doc.get("tier_updated_at"):

        def upgrade(cur: Doc | None) -> Doc | None:
            if cur is None or cur.get("tier_updated_at") or cur.get("tier", "free") != "free":
                return None
            return {**cur, "tier": "enterprise", "tier_updated_at": iso(svc.now())}

        svc.store.update(TENANTS, tenant_id, upgrade)


def ensure_bootstrap_tenants(svc: Services) -> None:
    """So that the admin API sees (and can suspend or delete) bootstrap tenants before their first use."""
    if svc.extras.get("bootstrap_tenants_ready"):
        return
    for tenant_id in sorted(set(bootstrap_tenants(svc).values())):
        _ensure_bootstrap_tenant(svc, tenant_id)
    svc.extras["bootstrap_tenants_ready"] = True


# ---- API keys -----------------------------------------------------------------------------------


def _key_view(doc: Doc) -> ApiKeyView:
    return ApiKeyView.model_validate(doc)


def create_key(svc: Services, tenant_id: str, name: str) -> ApiKeyCreated:
    get_tenant(svc, tenant_id)
    plaintext = KEY_PREFIX + secrets.token_urlsafe(32)
    digest = key_hash(plaintext)
    doc = {
        "id": f"key_{digest[:16]}",
        "hash": digest,
        "tenant_id": tenant_id,
        "name": name,
        "prefix": plaintext[: len(KEY_PREFIX) + 4],
        "created_at": svc.now(),
        "revoked_at": None,
    }
    view = ApiKeyView.model_validate(doc)
    svc.store.create(API_KEYS, digest, {**view.model_dump(mode="json"), "hash": digest})
    return ApiKeyCreated(**view.model_dump(), key=plaintext)


def list_keys(svc: Services, tenant_id: str) -> list[ApiKeyView]:
    rows = svc.store.query(Query(API_KEYS, where=(Where("tenant_id", "==", tenant_id),)))
    return sorted((_key_view(doc) for _, doc in rows), key=lambda k: k.created_at)


def revoke_key(svc: Services, key_id: str, tenant_id: str | None = None) -> ApiKeyView:
    rows = svc.store.query(Query(API_KEYS, where=(Where("id", "==", key_id),), limit=1))
    if not rows or (tenant_id is not None and rows[0][1]["tenant_id"] != tenant_id):
        raise NotFoundError(f"API key {key_id} not found", {"key_id": key_id})
    digest, doc = rows[0]

    def revoke(cur: Doc | None) -> Doc | None:
        if cur is None or cur.get("revoked_at"):
            return None
        return {**cur, "revoked_at": iso(svc.now())}

    after, _ = svc.store.update(API_KEYS, digest, revoke)
    return _key_view(after or doc)


def authenticate(svc: Services, authorization: str | None) -> Principal:
    """Bearer key → its tenant, which must be active. Bootstrap keys (API_KEYS) have their own tenants."""
    scheme, _, token = (authorization or "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > 512:
        raise UnauthorizedError("Missing or invalid API key")
    digest = key_hash(token)
    tenant_id = next((t for h, t in bootstrap_tenants(svc).items() if same(h, digest)), None)
    if tenant_id is None:
        doc = svc.store.get(API_KEYS, digest)
        if doc is None or not same(doc.get("hash", ""), digest) or doc.get("revoked_at"):
            raise UnauthorizedError("Missing or invalid API key")
        tenant_id = doc["tenant_id"]
        tenant = svc.store.get(TENANTS, tenant_id)
    else:
        ensure_bootstrap_tenants(svc)  # once per process: creates (or raises to enterprise) bootstrap tenants
        tenant = svc.store.get(TENANTS, tenant_id)
        if tenant is None:  # first use; a deleted one is a tombstone, never re-created
            _ensure_bootstrap_tenant(svc, tenant_id)
            tenant = svc.store.get(TENANTS, tenant_id)
    if tenant is None or tenant.get("status") != "active":
        raise UnauthorizedError("Missing or invalid API key")
    return Principal(tenant_id=tenant_id, key_hash=digest, tier=tenant.get("tier") or "free")
