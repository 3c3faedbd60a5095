"""Bodies of GET /v1/usage and GET /admin/usage: metered GPU-seconds and their price, grouped."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.platform.clock import Timestamp


class UsageTotal(BaseModel):
    gpu_seconds: float = Field(description="GPU-seconds: workers up (incl. cold start) x GPUs per worker x seconds")
    usd: float = Field(description="gpu_seconds priced at the deployment's price per GPU-hour at selection")


class UsageRow(UsageTotal):
    key: str = Field(description="The deployment id, the day (YYYY-MM-DD, UTC), the model id or the tenant id")


class UsageReport(BaseModel):
    model_config = ConfigDict(validate_by_name=True, serialize_by_alias=True)

    from_: Timestamp = Field(alias="from")
    to: Timestamp
    group_by: Literal["deployment", "day", "model", "tenant"]
    tenant_id: str | None = Field(default=None, description="The tenant reported on; null: every tenant (admin)")
    data: list[UsageRow]
    total: UsageTotal
