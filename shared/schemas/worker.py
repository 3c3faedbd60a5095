"""The bodies of the internal routes: the worker's reports and the queue's step tasks."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.platform.clock import Timestamp
from shared.schemas.rules import MAX_COUNTER
from shared.schemas.states import Status


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

    kind: Literal["step", "webhook", "sandbox"] = "step"  # sandbox: a simulated worker's tick
    deployment_id: str | None = None
    step: str | None = None
    seq: int | None = Field(default=None, ge=0, le=MAX_COUNTER)
    delivery_id: str | None = Field(default=None, max_length=128)
    attempt: int | None = Field(default=None, ge=0, le=MAX_COUNTER)
    issued_at: Timestamp | None = None
    endpoint_id: str | None = Field(default=None, max_length=64)
    tick: int | None = Field(default=None, ge=0, le=MAX_COUNTER)
