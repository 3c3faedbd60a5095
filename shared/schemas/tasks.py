"""Tasks: every long operation (deploy, update, rollback, delete) as a record with its own id (seed 003).

Also the bodies of seed 003's compatibility routes (`/deploy`, `/delete` and their status routes).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.platform.clock import Timestamp
from shared.schemas.stored import ErrorInfo

TASKS = "tasks"  # the store collection of Task records (shared.deploy.tasks)

TaskKind = Literal["deploy", "update", "rollback", "delete"]
TaskStatus = Literal["pending", "in_progress", "completed", "failed"]
FINISHED: frozenset[str] = frozenset({"completed", "failed"})


class Task(BaseModel):
    """One long operation on a deployment, as GET /v1/tasks/{task_id} shows it."""

    task_id: str
    kind: TaskKind
    status: TaskStatus
    deployment_id: str
    model_id: str
    created_at: Timestamp
    updated_at: Timestamp
    started_at: Timestamp | None = None
    completed_at: Timestamp | None = None
    error: ErrorInfo | None = None
    metadata: dict[str, Any] = {}


class StoredTask(Task):
    owner: str


class TaskList(BaseModel):
    data: list[Task]


class ModelDeploymentRequest(BaseModel):
    """Seed 003's deploy body: the model and its configuration (the fields of POST /v1/deployments)."""

    model_config = ConfigDict(extra="forbid")

    model_id: str = Field(min_length=1, max_length=200, examples=["stabilityai/sdxl-turbo"])
    config: dict[str, Any] = Field(
        default_factory=dict,
        description="Create fields (user_runpod_key, gpu_tier, env, ...); for a model you already deploy, "
        "the fields of PATCH /v1/deployments/{id} (a green update)",
    )


class ModelDeletionRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    model_id: str = Field(min_length=1, max_length=200, examples=["stabilityai/sdxl-turbo"])


class ModelDeploymentResponse(BaseModel):
    """Seed 003's answer: the task, its status and what it carries."""

    task_id: str
    status: TaskStatus
    metadata: dict[str, Any] = {}


class ModelDeletionResponse(ModelDeploymentResponse):
    pass
