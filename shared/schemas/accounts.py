"""Bodies of the admin routes for tenants and their API keys (/admin/tenants, /admin/api-keys)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.platform.clock import Timestamp
from shared.schemas.budgets import Budget, BudgetState
from shared.schemas.stored_accounts import TenantStatus, Tier


class TenantCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=200)
    email: str = Field(min_length=3, max_length=320)
    tier: Tier = "free"

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        local, at, domain = value.partition("@")
        if not at or not local or "." not in domain or " " in value:
            raise ValueError("must be an email address")
        return value


class TenantUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    tier: Tier | None = None
    status: TenantStatus | None = None
    budget: Budget | None = Field(default=None, description="Tenant-wide spend limits over all its deployments")


class TenantView(BaseModel):
    id: str
    name: str
    email: str
    tier: Tier
    status: TenantStatus
    created_at: Timestamp
    budget: Budget | None = None
    budget_state: BudgetState | None = None


class TenantList(BaseModel):
    data: list[TenantView]


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tenant_id: str | None = None  # in the body for POST /admin/api-keys (seed 004)
    name: str = Field(default="default", min_length=1, max_length=100)


class ApiKeyView(BaseModel):
    id: str
    tenant_id: str
    name: str
    prefix: str
    created_at: Timestamp
    revoked_at: Timestamp | None = None


class ApiKeyCreated(ApiKeyView):
    key: str = Field(description="The API key itself: shown this once, never again")


class ApiKeyList(BaseModel):
    data: list[ApiKeyView]
