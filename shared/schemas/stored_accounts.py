"""What the store holds for a tenant (its API keys and credentials are plain documents)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from shared.platform.clock import Timestamp
from shared.schemas.budgets import Budget, BudgetState

Tier = Literal["free", "starter", "pro", "enterprise"]
TenantStatus = Literal["active", "suspended"]
# A deleted tenant stays as a tombstone: its id is never reused and a bootstrap tenant is not re-created.
StoredStatus = Literal["active", "suspended", "deleted"]


class Tenant(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str
    name: str
    email: str
    tier: Tier = "free"
    status: StoredStatus = "active"
    created_at: Timestamp
    deleted_at: Timestamp | None = None
    webhook_secret: str | None = None  # encrypted
    previous_webhook_secret: str | None = None  # encrypted; still signs for a grace period after rotation
    previous_secret_until: Timestamp | None = None
    default_credential_id: str | None = None
    budget: Budget | None = None  # tenant-wide (shared/deploy/tenant_budgets.py)
    budget_state: BudgetState | None = None
