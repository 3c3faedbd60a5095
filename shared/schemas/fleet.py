"""The operator's fleet (/admin/deployments): every tenant's deployments, each with its tenant."""

from __future__ import annotations

from pydantic import BaseModel, Field

from shared.schemas.deployments import DeploymentResponse, DeploymentSummary


class FleetDeploymentSummary(DeploymentSummary):
    tenant_id: str | None = Field(description="null: the operator's own node")


class FleetDeploymentList(BaseModel):
    data: list[FleetDeploymentSummary]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; null on the last page")


class FleetDeployment(DeploymentResponse):
    tenant_id: str | None = Field(description="null: the operator's own node")
    purge_requested: bool = False
