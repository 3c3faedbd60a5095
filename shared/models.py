"""The stored records (what the store holds) and the API's request and response bodies."""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from shared.states import Status
from shared.timeutil import Timestamp
from shared.tokens import check_token

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


class ScalingState(BaseModel):
    """How Runpod's workers follow the desired state (status paused, min/max): see shared/lifecycle.py."""

    gen: int = 0  # bumped by every change of the desired workers
    applied_gen: int = 0  # Runpod was set from the desired state of this generation
    applied: dict[str, int] | None = None  # the workers last set on Runpod
    lease_id: str | None = None  # who is applying now (one applier at a time)
    lease_until: Timestamp | None = None
    before: dict[str, Any] | None = None  # the desired state before `gen`, restored when Runpod refuses it
    error: dict[str, Any] | None = None  # {"gen", "kind", "message"} of the last failed application


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
    runpod_key: str = ""  # encrypted (shared.crypto); never returned; "" when credential_id is set
    credential_id: str | None = None  # a stored credential used by reference (shared.credentials.deployment_key)
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
    worker_progress: int | None = None
    worker_metadata: dict[str, Any] = {}
    worker_errors: list[str] = []
    worker_warnings: list[str] = []

    deployment_name: str | None = None
    min_replicas: int = 0
    max_replicas: int = 1
    idle_timeout_seconds: int = 5
    gpu_count_requested: int | None = None
    extra_env: dict[str, str] = {}
    data_center_ids: list[str] = []
    endpoint_created_at: Timestamp | None = None
    worker_reported_ready_at: Timestamp | None = None  # a `ready` report that came before the endpoint id
    paused_at: Timestamp | None = None
    paused_reason: str | None = None  # "user" or "tenant_suspended"; also set on a provisioning one to pause at ready
    scaling: ScalingState = Field(default_factory=lambda: ScalingState())
    deletion_requested_at: Timestamp | None = None
    price_per_gpu_hour: float | None = None
    price_source: str | None = None

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


class LogLine(LogEntry):
    """A log entry with where it stood in the deployment (GET .../logs and the SSE stream)."""

    id: str
    phase: str | None = None
    progress: int | None = None
    source: str = "orchestrator"  # or "worker:<worker id>" for Runpod worker stdout/stderr


# ---- API bodies -------------------------------------------------------------------------------


RESERVED_ENV = re.compile(
    r"^(DEPLOYMENT_ID|HF_MODEL_ID|HF_TOKEN|ORCHESTRATOR_.*|MODEL_NAME|RUNPOD_.*|MODEL_LIBRARY|MODEL_TASK)$"
)
SECRET_ENV_NAME = re.compile(r"(TOKEN|SECRET|PASSWORD|PASSWD|API_?KEY|PRIVATE_KEY|CREDENTIAL)")
SECRET_ENV_VALUE = re.compile(r"^(rpa_|hf_|sk-|do_live_|ghp_|github_pat_|AKIA|xox[abp]-|-----BEGIN)")
ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]{0,63}$")
MAX_REPLICAS = 100  # workers per endpoint; also keeps every integer far below Firestore's 2^63
MAX_COUNTER = 2**53  # internal counters (step generation, attempt)
DEPLOYMENT_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


def check_scaling(min_replicas: int, max_replicas: int) -> None:
    """Seed 001's rules: min ≥ 0, max ≥ 1, min ≤ max."""
    if min_replicas < 0:
        raise ValueError("min_replicas must be >= 0")
    if max_replicas < 1:
        raise ValueError("max_replicas must be >= 1")
    if min_replicas > max_replicas:
        raise ValueError("min_replicas must be <= max_replicas")


def check_worker_env(env: dict[str, str]) -> dict[str, str]:
    if len(env) > 50:
        raise ValueError("env holds at most 50 variables")
    for name, value in env.items():
        if not ENV_NAME.match(name):
            raise ValueError(f"env name {name!r} must be UPPER_SNAKE_CASE")
        if RESERVED_ENV.match(name):
            raise ValueError(f"env name {name!r} is set by the orchestrator")
        if SECRET_ENV_NAME.search(name) or SECRET_ENV_VALUE.match(value):
            raise ValueError(f"env {name!r} looks like a secret; secrets are not accepted in env")
        if len(value) > 4096:
            raise ValueError(f"env {name!r} is longer than 4096 characters")
    return env


def check_webhook_url(url: str) -> str:
    """The URL in the ASCII form it is stored and called with (IDNA host, percent-encoded path)."""
    from shared.netguard import ascii_url

    url = ascii_url(url)
    if len(url) > 2048:
        raise ValueError("must be at most 2048 characters")
    return url


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
    user_webhook_url: str = Field(max_length=2048, examples=["https://example.com/webhook"])
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
        if any(not re.fullmatch(r"[A-Z0-9-]{2,32}", dc) for dc in value):
            raise ValueError("data center ids look like 'US-TX-3'")
        return value

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
        check_scaling(self.min_replicas, self.max_replicas)
        return self


class CreateDeploymentResponse(BaseModel):
    deployment_id: str = Field(examples=["dep_2026_c1badc17e0a94f21"])
    status: Status
    model_id: str
    estimated_ready_seconds: int
    webhook_url: str
    created_at: Timestamp


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
    phase: str | None = None
    progress: int | None = None
    errors: list[str] = []
    warnings: list[str] = []
    worker_metadata: dict[str, Any] = {}
    steps: list[StepRecord] = []
    estimated_ready_at: Timestamp | None = None
    gpu_pools: list[str] = []
    gpu_count: int = 1
    gpu_reason: str | None = None
    worker_image: str | None = None
    worker_reason: str | None = None
    min_replicas: int = 0
    max_replicas: int = 1
    idle_timeout_seconds: int = 5
    paused_reason: str | None = Field(default=None, description="Why paused: user, or tenant_suspended")
    deletion: DeletionInfo | None = None
    cost: CostInfo | None = None
    updated_at: Timestamp | None = None


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


class WorkerReport(BaseModel):
    """What the inference container reports to /internal/deployment-ready/{id}."""

    model_config = ConfigDict(extra="ignore")

    status: Literal["downloading_model", "loading_model", "ready", "failed"]
    message: str | None = Field(default=None, max_length=4000)
    progress: int | None = Field(default=None, ge=0, le=100, description="Percent done of this status")
    metadata: dict[str, Any] | None = Field(default=None, description="Free-form details (kept, merged)")

    @field_validator("metadata")
    @classmethod
    def _small(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None and len(json.dumps(value, default=str)) > MAX_METADATA_BYTES:
            raise ValueError(f"metadata must serialize to at most {MAX_METADATA_BYTES} bytes")
        if value is not None and not _storable(value):
            raise ValueError("metadata numbers must be finite and fit in 64 bits")
        return value


MAX_METADATA_BYTES = 8000


def _storable(value: Any) -> bool:
    """Every number fits a 64-bit store field (Firestore refuses bigger ints) and is finite (1e400 is inf)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, bool) or item is None or isinstance(item, str):
            continue
        if isinstance(item, int):
            if not -(2**63) <= item < 2**63:
                return False
        elif isinstance(item, float):
            if item != item or item in (float("inf"), float("-inf")):
                return False
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return True


class WorkerLogReport(BaseModel):
    """A log line from the inference container (seed 002's "log deployment error/warning")."""

    level: Literal["info", "warning", "error"]
    message: str = Field(min_length=1, max_length=4000)


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
    seq: int | None = Field(default=None, ge=0, le=MAX_COUNTER)
    delivery_id: str | None = Field(default=None, max_length=128)
    attempt: int | None = Field(default=None, ge=0, le=MAX_COUNTER)
    issued_at: Timestamp | None = None


class HealthResponse(BaseModel):
    status: str


class ServiceInfo(BaseModel):
    service: str
    docs: str


class ErrorResponse(BaseModel):
    error: str = Field(examples=["ValidationError"])
    message: str
    details: dict[str, Any] = {}
