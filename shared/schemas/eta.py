"""Which estimate a deployment's `estimated_ready_at` came from, as GET /v1/deployments/{id} shows it."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class EtaInfo(BaseModel):
    source: Literal["history", "static", "sandbox"] = Field(
        description="history: the median of this install's past deployments of the same pool and VRAM size, "
        "per step; static: the model-size estimate (too little history, or no pool chosen yet); sandbox: the "
        "simulated timeline"
    )
    samples: int = Field(description="Past deployments the history estimate used (0 for the others)")
    step_seconds: dict[str, float] | None = Field(
        default=None, description="The median seconds per bring-up step (history only)"
    )
