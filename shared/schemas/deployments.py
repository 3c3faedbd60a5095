"""The request and response bodies of the deployment routes (/v1/deployments...)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from shared.clients.header_tokens import check_token
from shared.platform.clock import Timestamp
from shared.sandbox.keys import Scenario
from shared.schemas.budgets import Budget, BudgetState
from shared.schemas.eta import EtaInfo
from shared.schemas.model_cache import MODEL_CACHE_FIELD, ModelCache, NetworkVolumeInfo
from shared.schemas.placement import Placement
from shared.schemas.rules import (
    DEPLOYMENT_NAME,
    MAX_REPLICAS,
    check_data_center_ids,
    check_repo_id,
    check_scaling,
    check_webhook_url,
    check_worker_env,
)
from shared.schemas.states import Status
from shared.schemas.stored import HF_REPO_ID, ErrorInfo, GenerationRecord, LogEntry, LogLine, StepRecord
from shared.schemas.updates import UpdateProgress

SANDBOX_FIELD = (
    "Run in the sandbox: the real product against a simulated Runpod, free, no Runpod key needed. "
    '`true`, or `{"scenario": ...}` to rehearse a failure (crash_loop ends failed with worker_unhealthy, '
    "no_capacity waits for GPUs, slow_start takes minutes). The Runpod key `sandbox` does the same."
)


class SandboxOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scenario: Scenario = Field(default="ok", description="How the simulated worker behaves")


class CreateDeploymentRequest(BaseModel):
    """Give either `hf_model_id`, or `model_name` (with an optional `provider`), not both."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    hf_model_id: str | None = Field(default=None, examples=["black-forest-labs/FLUX.1-schnell"])
    model_name: str | None = Field(default=None, max_length=128, examples=["veo3"])
    provider: str | None = Field(default=None, max_length=64, examples=["fal"])
    user_runpod_key: SecretStr | None = Field(
        default=None, min_length=1, max_length=512, description="Your Runpod API key (or use a stored credential)"
    )
    credential_id: str | None = Field(default=None, max_length=64, description="A stored credential to use")
    user_webhook_url: str | None = Field(
        default=None,
        max_length=2048,
        examples=["https://example.com/webhook"],
        description="Called on ready, failed and deleted; optional (the SSE stream and polling tell the same)",
    )
    gpu_tier: str = Field(default="auto", max_length=64, examples=["auto", "A40", "AMPERE_48"])
    user_hf_token: SecretStr | None = Field(
        default=None, max_length=512, description="A Hugging Face token for gated or private models"
    )
    deployment_name: str | None = Field(
        default=None, description="A readable name, unique among your deployments (lowercase, digits, dashes)"
    )
    min_replicas: int = Field(
        default=0, ge=0, le=MAX_REPLICAS, description="Workers kept warm once ready (0 = scale to zero)"
    )
    max_replicas: int = Field(default=1, ge=1, le=MAX_REPLICAS, description="Most workers at once")
    idle_timeout_seconds: int = Field(default=5, ge=1, le=3600, description="Idle seconds before a worker stops")
    gpu_count: int | None = Field(default=None, ge=1, le=8, description="GPUs per worker (default: fewest that fit)")
    env: dict[str, str] = Field(default_factory=dict, description="Extra worker environment (no secrets)")
    data_center_ids: list[str] = Field(default_factory=list, max_length=20, description="Preferred data centers")
    sandbox: bool | SandboxOptions = Field(default=False, description=SANDBOX_FIELD)
    budget: Budget | None = Field(default=None, description="Spend limits and what happens at 100 %")
    auto_pause_unhealthy: bool = Field(
        default=False, description="Pause once every worker has crash-looped for UNHEALTHY_PAUSE_SECONDS"
    )
    max_price_per_gpu_hour: float | None = Field(
        default=None,
        gt=0,
        le=1000,
        description="Most USD per GPU-hour you accept: pools above it are never chosen, neither at first nor when "
        "re-placement widens the pools (no pool that fits under it: 422 price_ceiling_too_low)",
    )
    model_cache: ModelCache = Field(default="none", description=MODEL_CACHE_FIELD)

    @field_validator("user_runpod_key", "user_hf_token")
    @classmethod
    def _header_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            check_token(value.get_secret_value())
        return value

    @field_validator("deployment_name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        if value is not None and not DEPLOYMENT_NAME.match(value):
            raise ValueError("must be 1-63 lowercase letters, digits or dashes, not starting or ending with a dash")
        return value

    @field_validator("env")
    @classmethod
    def _env(cls, value: dict[str, str]) -> dict[str, str]:
        return check_worker_env(value)

    @field_validator("data_center_ids")
    @classmethod
    def _dcs(cls, value: list[str]) -> list[str]:
        return check_data_center_ids(value)

    @field_validator("hf_model_id")
    @classmethod
    def _repo_id(cls, value: str | None) -> str | None:
        return None if value is None else check_repo_id(value, HF_REPO_ID)

    @field_validator("user_webhook_url")
    @classmethod
    def _webhook(cls, value: str | None) -> str | None:
        return None if value is None else check_webhook_url(value)

    @model_validator(mode="after")
    def _one_model_form(self) -> CreateDeploymentRequest:
        if (self.hf_model_id is None) == (self.model_name is None):
            raise ValueError("give exactly one of hf_model_id, or model_name (+ optional provider)")
        if self.provider is not None and self.model_name is None:
            raise ValueError("provider goes with model_name")
        check_scaling(self.min_replicas, self.max_replicas)
        if self.sandbox_scenario is not None and (self.user_runpod_key is not None or self.credential_id is not None):
            raise ValueError("a sandbox deployment takes no Runpod key: leave out user_runpod_key and credential_id")
        return self

    @property
    def sandbox_scenario(self) -> str | None:
        """The scenario asked for with `sandbox`, or None when `sandbox` is false."""
        if isinstance(self.sandbox, SandboxOptions):
            return self.sandbox.scenario
        return "ok" if self.sandbox else None


class CreateDeploymentResponse(BaseModel):
    deployment_id: str = Field(examples=["dep_2026_c1badc17e0a94f21"])
    status: Status
    model_id: str
    estimated_ready_seconds: int
    webhook_url: str | None
    created_at: Timestamp
    sandbox: bool = False


class DeletionInfo(BaseModel):
    """Seed 003's deletion task, as seen on the deployment."""

    state: Literal["pending", "in_progress", "completed", "failed"]
    requested_at: Timestamp | None
    completed_at: Timestamp | None
    attempts: int
    error: str | None = None


class CostInfo(BaseModel):
    gpu_pool: str
    gpu_count: int
    price_per_gpu_hour: float | None
    price_per_hour: float | None
    price_source: str
    estimated_cost_usd: float | None
    basis: str


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
    deployment_name: str | None = None
    webhook_url: str | None = Field(default=None, description="null: no webhook configured")
    phase: str | None = None
    progress: int | None = None
    errors: list[str] = []
    warnings: list[str] = []
    worker_metadata: dict[str, Any] = {}
    steps: list[StepRecord] = []
    estimated_ready_at: Timestamp | None = None
    eta: EtaInfo | None = Field(default=None, description="Which estimate estimated_ready_at used (until ready)")
    model_cache: ModelCache = "none"
    network_volume: NetworkVolumeInfo | None = Field(default=None, description="The model cache's Runpod volume")
    gpu_pools: list[str] = []
    gpu_count: int = 1
    gpu_reason: str | None = None
    placement: Placement | None = Field(default=None, description="How the GPU pools were chosen")
    worker_image: str | None = None
    worker_reason: str | None = None
    min_replicas: int = 0
    max_replicas: int = 1
    idle_timeout_seconds: int = 5
    paused_reason: str | None = Field(
        default=None, description="Why paused: user, tenant_suspended, budget, tenant_budget or unhealthy"
    )
    budget: Budget | None = None
    budget_state: BudgetState | None = Field(default=None, description="Spend so far, thresholds announced, action")
    auto_pause_unhealthy: bool = False
    unhealthy_since: Timestamp | None = Field(default=None, description="Flagged: every worker crash-looping since")
    deletion: DeletionInfo | None = None
    cost: CostInfo | None = None
    updated_at: Timestamp | None = None
    sandbox: bool = Field(default=False, description="Runs against the simulated Runpod (free, test mode)")
    sandbox_scenario: str | None = None
    revision: str | None = None
    generation: int = Field(default=1, description="The generation serving now (each green update makes one)")
    update: UpdateProgress | None = Field(default=None, description="The green update in progress, if any")
    generations: list[GenerationRecord] = []
    last_update_error: ErrorInfo | None = Field(default=None, description="Why the latest update failed")


class DeploymentSummary(BaseModel):
    deployment_id: str
    deployment_name: str | None
    status: Status
    model_id: str
    gpu_allocated: str | None
    gpu_count: int
    endpoint_url: str | None
    min_replicas: int
    max_replicas: int
    error: ErrorInfo | None
    created_at: Timestamp
    ready_at: Timestamp | None
    phase: str | None = None
    progress: int | None = None
    cost: CostInfo | None = None
    sandbox: bool = False


class DeploymentList(BaseModel):
    data: list[DeploymentSummary]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; null on the last page")


class HealthMessage(BaseModel):
    message: str
    severity: Literal["info", "warning", "error"]


class DeploymentHealth(BaseModel):
    data: Literal[
        "Healthy", "Progressing", "Initializing", "Degraded", "Unhealthy", "Unknown", "SCALED_DOWN", "Missing"
    ]
    messages: list[HealthMessage]
    workers: dict[str, int] | None = None


class ScaleRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    min_replicas: int = Field(ge=0, le=MAX_REPLICAS, description="Minimum workers kept running (>= 0)")
    max_replicas: int = Field(ge=1, le=MAX_REPLICAS, description="Maximum workers (>= 1)")

    @model_validator(mode="after")
    def _rules(self) -> ScaleRequest:
        check_scaling(self.min_replicas, self.max_replicas)
        return self


class ScaleResponse(BaseModel):
    message: str
    min_replicas: int
    max_replicas: int


class LifecycleResponse(BaseModel):
    message: str
    update_result: Literal["started", "stopped", "already_started", "already_stopped"]


class LogsResponse(BaseModel):
    data: list[LogLine]
    worker_logs_error: str | None = None
