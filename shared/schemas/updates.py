"""The bodies of green updates and rollbacks (PATCH /v1/deployments/{id}, POST .../rollback)."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.platform.clock import Timestamp
from shared.schemas.budgets import Budget
from shared.schemas.rules import MAX_REPLICAS, check_data_center_ids, check_repo_id, check_worker_env
from shared.schemas.stored import HF_REPO_ID

REVISION = re.compile(r"^[A-Za-z0-9][\w.\-/]{0,199}$")


class UpdateDeploymentRequest(BaseModel):
    """Any of these; replica bounds and the idle timeout alone are applied in place, the rest goes green.

    Nothing to change is a no-op: its task completes at once."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    hf_model_id: str | None = Field(default=None, examples=["stabilityai/sdxl-turbo"])
    revision: str | None = Field(default=None, max_length=200, description="A commit, branch or tag of the model")
    gpu_tier: str | None = Field(default=None, min_length=1, max_length=64, examples=["A40", "auto"])
    gpu_count: int | None = Field(default=None, ge=1, le=8)
    env: dict[str, str] | None = Field(default=None, description="The worker's extra environment (replaces it)")
    idle_timeout_seconds: int | None = Field(default=None, ge=1, le=3600)
    data_center_ids: list[str] | None = Field(default=None, max_length=20)
    min_replicas: int | None = Field(default=None, ge=0, le=MAX_REPLICAS)
    max_replicas: int | None = Field(default=None, ge=1, le=MAX_REPLICAS)
    budget: Budget | None = Field(
        default=None, description="Replaces the budget in place (raising it lifts its action)"
    )

    @field_validator("hf_model_id")
    @classmethod
    def _repo_id(cls, value: str | None) -> str | None:
        return None if value is None else check_repo_id(value, HF_REPO_ID)

    @field_validator("revision")
    @classmethod
    def _revision(cls, value: str | None) -> str | None:
        if value is not None and (not REVISION.match(value) or ".." in value):
            raise ValueError("must be a commit, branch or tag name")
        return value

    @field_validator("env")
    @classmethod
    def _env(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        return None if value is None else check_worker_env(value)

    @field_validator("data_center_ids")
    @classmethod
    def _dcs(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else check_data_center_ids(value)


class UpdateProgress(BaseModel):
    """GET /v1/deployments/{id} `update`: the green update in progress (the deployment keeps serving)."""

    task_id: str
    kind: str = "update"
    state: str = Field(description="running, failing (removing the green) or retiring (switched; draining)")
    phase: str
    progress: int
    generation: int
    started_at: Timestamp | None = None
