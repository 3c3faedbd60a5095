"""The stored records (what the store holds) and the API's request and response bodies."""

from __future__ import annotations

import re
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from shared.states import Status
from shared.timeutil import Timestamp

HF_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}(/[A-Za-z0-9][\w.-]{0,95})?$")
LogLevel = Literal["INFO", "WARNING", "ERROR"]


# ---- stored records ---------------------------------------------------------------------------


class ErrorInfo(BaseModel):
    code: str = Field(description="Stable machine-readable code, e.g. model_not_found, runpod_unauthorized")
    message: str
    retryable: bool = False
    step: str | None = None


class StepRecord(BaseModel):
    name: str
    state: Literal["running", "retrying", "succeeded", "failed", "cancelled"]
    started_at: Timestamp
    finished_at: Timestamp | None = None
    attempts: int = 1
    error: str | None = None


class Deployment(BaseModel):
    """One deployment as stored. `seq` is the step generation: a task for another seq is stale."""

    model_config = ConfigDict(extra="ignore")

    deployment_id: str
    owner: str
    status: Status
    model_id: str
    model_name: str | None = None
    provider: str | None = None
    gpu_tier: str = "auto"
    webhook_url: str
    runpod_key: str  # encrypted (shared.crypto); never returned
    created_at: Timestamp
    updated_at: Timestamp
    deadline_at: Timestamp
    ready_at: Timestamp | None = None

    runpod_endpoint_id: str | None = None
    endpoint_url: str | None = None
    endpoint_name: str
    endpoint_deleted_at: Timestamp | None = None
    gpu_allocated: str | None = None
    gpu_pools: list[str] = []
    gpu_count: int = 1
    gpu_reason: str | None = None
    model_vram_gb: int | None = None
    model_facts: dict[str, Any] = {}
    worker: dict[str, Any] = {}
    error: ErrorInfo | None = None
    worker_message: str | None = None

    step: str | None = None
    seq: int = 0
    attempt: int = 0
    step_deadline_at: Timestamp | None = None
    lease_id: str | None = None
    lease_until: Timestamp | None = None
    steps: list[StepRecord] = []
    cleanup_attempts: int = 0
    webhook_delivered: bool | None = None


class LogEntry(BaseModel):
    timestamp: Timestamp
    level: LogLevel
    message: str


# ---- API bodies -------------------------------------------------------------------------------


def check_webhook_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an absolute http or https URL")
    if parts.username or parts.password:
        raise ValueError("must not carry credentials")
    if len(url) > 2048:
        raise ValueError("must be at most 2048 characters")
    return url


class CreateDeploymentRequest(BaseModel):
    """Give either `hf_model_id`, or `model_name` (with an optional `provider`), not both."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    hf_model_id: str | None = Field(default=None, examples=["black-forest-labs/FLUX.1-schnell"])
    model_name: str | None = Field(default=None, max_length=128, examples=["veo3"])
    provider: str | None = Field(default=None, max_length=64, examples=["fal"])
    user_runpod_key: SecretStr = Field(min_length=1, max_length=512, description="Your Runpod API key")
    user_webhook_url: str = Field(max_length=2048, examples=["https://example.com/webhook"])
    gpu_tier: str = Field(default="auto", max_length=64, examples=["auto", "A40", "AMPERE_48"])
    user_hf_token: SecretStr | None = Field(
        default=None, max_length=512, description="A Hugging Face token for gated or private models"
    )

    @field_validator("hf_model_id")
    @classmethod
    def _repo_id(cls, value: str | None) -> str | None:
        if value is not None and (not HF_REPO_ID.match(value) or ".." in value or "--" in value):
            raise ValueError("must be a Hugging Face repo id such as 'org/model'")
        return value

    @field_validator("user_webhook_url")
    @classmethod
    def _webhook(cls, value: str) -> str:
        return check_webhook_url(value)

    @model_validator(mode="after")
    def _one_model_form(self) -> CreateDeploymentRequest:
        if (self.hf_model_id is None) == (self.model_name is None):
            raise ValueError("give exactly one of hf_model_id, or model_name (+ optional provider)")
        if self.provider is not None and self.model_name is None:
            raise ValueError("provider goes with model_name")
        return self


class CreateDeploymentResponse(BaseModel):
    deployment_id: str = Field(examples=["dep_2026_c1badc17e0a94f21"])
    status: Status
    model_id: str
    estimated_ready_seconds: int
    webhook_url: str
    created_at: Timestamp


class DeploymentResponse(BaseModel):
    deployment_id: str
    status: Status
    model_id: str
    runpod_endpoint_id: str | None
    endpoint_url: str | None
    gpu_allocated: str | None
    model_vram_gb: int | None
    logs: list[LogEntry]
    error: ErrorInfo | None
    created_at: Timestamp
    ready_at: Timestamp | None
    steps: list[StepRecord] = []


class WorkerReport(BaseModel):
    """What the inference container reports to /internal/deployment-ready/{id}."""

    model_config = ConfigDict(extra="ignore")

    status: Literal["downloading_model", "loading_model", "ready", "failed"]
    message: str | None = Field(default=None, max_length=4000)


class WorkerReportResponse(BaseModel):
    deployment_id: str
    status: Status
    webhook_delivered: bool | None = None


class StepTask(BaseModel):
    """The body of a step task (what the queue POSTs to run_step)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["step", "webhook"] = "step"
    deployment_id: str | None = None
    step: str | None = None
    seq: int | None = None
    delivery_id: str | None = None
    attempt: int | None = None


class HealthResponse(BaseModel):
    status: str


class ServiceInfo(BaseModel):
    service: str
    docs: str


class ErrorResponse(BaseModel):
    error: str = Field(examples=["ValidationError"])
    message: str
    details: dict[str, Any] = {}
