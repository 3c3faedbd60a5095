"""What the store holds: a deployment, its steps, its scaling state and its log lines."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.platform.clock import Timestamp
from shared.schemas.budgets import Budget, BudgetState
from shared.schemas.model_cache import ModelCache, NetworkVolumeInfo
from shared.schemas.states import Status

HF_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}(/[A-Za-z0-9][\w.-]{0,95})?$")
LogLevel = Literal["INFO", "WARNING", "ERROR"]


DEPLOYMENTS = "deployments"  # the store collection of Deployment records (shared.deploy.records)


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


class UpdateState(BaseModel):
    """A green update (or rollback) in progress: its task, target configuration and the green endpoint.

    `fields` holds the green's Deployment fields (configuration, sizing, endpoint) that the switch moves
    onto the deployment in one write; `generation` numbers the attempt (never reused, so a failed
    green's endpoint name is never adopted by a later one).
    """

    task_id: str
    kind: Literal["update", "rollback"] = "update"
    state: Literal["running", "failing", "retiring"] = "running"
    phase: str = "validating"
    progress: int = 0
    generation: int
    from_generation: int
    config: dict[str, Any] = {}
    changed: list[str] = []  # the configuration keys the request changed (the others follow the live ones)
    fields: dict[str, Any] = {}
    started_at: Timestamp
    deadline_at: Timestamp
    worker_ready_at: Timestamp | None = None
    old_endpoint_id: str | None = None
    drain_until: Timestamp | None = None
    error: ErrorInfo | None = None


class GenerationRecord(BaseModel):
    """One configuration the deployment served (or serves): kept for GET and for rollback."""

    generation: int
    task_id: str | None = None
    config: dict[str, Any] = {}
    runpod_endpoint_id: str | None = None
    gpu_allocated: str | None = None
    gpu_count: int = 1
    worker_image: str | None = None
    started_at: Timestamp | None = None
    serving_at: Timestamp | None = None
    retired_at: Timestamp | None = None


class FailedUpdate(BaseModel):
    task_id: str
    generation: int
    error: ErrorInfo
    at: Timestamp


class ScalingState(BaseModel):
    """How Runpod's workers follow the desired state (status paused, min/max): see shared/deploy/desired_state.py."""

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
    webhook_url: str | None = None  # None: no webhook configured (events are not delivered)
    runpod_key: str = ""  # encrypted (shared.platform.crypto); never returned; "" when credential_id is set
    credential_id: str | None = (
        None  # a stored credential used by reference (shared.accounts.credentials.deployment_key)
    )
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
    placement: dict[str, Any] | None = None  # shared/schemas/placement.Placement, as sizing.choose decided
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
    budget: Budget | None = None  # shared/deploy/budgets.py
    budget_state: BudgetState | None = None
    auto_pause_unhealthy: bool = False  # shared/deploy/crash_watch.py
    max_price_per_gpu_hour: float | None = None  # the user's ceiling: sizing.choose and replacement honour it
    unhealthy_since: Timestamp | None = None  # every worker unhealthy (crash-looping) since
    model_cache: ModelCache = "none"  # shared/deploy/model_cache.py
    network_volume: NetworkVolumeInfo | None = None  # the tenant's volume attached to the endpoint
    sandbox: bool = False  # runs against the simulated Runpod (key `sandbox`): free, never reaches Runpod
    sandbox_scenario: str | None = None  # ok, crash_loop, no_capacity or slow_start (sandbox only)
    launch: dict[str, Any] = {}  # a seed 004 node launch's own fields (region, gpu asked, ...): shared/deploy/nodes.py
    purge_requested: bool = False  # the operator asked to remove the record once the endpoint is gone (purge.py)

    revision: str | None = None  # the model revision asked for (None: the default branch)
    generation: int = 1  # the serving generation (shared/deploy/green.py)
    generation_counter: int = 1  # the highest generation number handed out
    update: UpdateState | None = None
    generations: list[GenerationRecord] = []
    failed_updates: list[FailedUpdate] = []  # the latest few, newest last
    last_update_error: ErrorInfo | None = None  # why the latest update failed (cleared by a successful one)

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
