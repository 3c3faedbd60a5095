"""A spending budget (on a deployment, or tenant-wide) and what it has done so far."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.platform.clock import Timestamp

BudgetAction = Literal["notify", "scale_to_zero", "pause"]


class Budget(BaseModel):
    """Metered spend (GET /v1/usage) against limits: events at 50 % and 80 %, then at 100 % the action."""

    model_config = ConfigDict(extra="forbid")

    max_usd_per_day: float | None = Field(default=None, gt=0, le=1e9, description="Per UTC day")
    max_usd_total: float | None = Field(default=None, gt=0, le=1e9, description="Since the deployment began")
    action: BudgetAction = Field(
        default="notify", description="At 100 %: notify only, scale_to_zero (min workers 0) or pause (workers 0/0)"
    )

    @model_validator(mode="after")
    def _a_limit(self) -> Budget:
        if self.max_usd_per_day is None and self.max_usd_total is None:
            raise ValueError("name max_usd_per_day, max_usd_total or both")
        return self


class BudgetState(BaseModel):
    """Which thresholds were announced (once per period), and whether the action is in force."""

    sent: list[str] = Field(default=[], description="Announced thresholds: total:50, day:2026-01-01:80, ...")
    spent_usd_today: float = 0.0
    spent_usd_total: float = 0.0
    exceeded: bool = False
    reason: str | None = Field(default=None, description="Why the action was taken (or lifted)")
    action_taken: str | None = None
    min_replicas_before: int | None = Field(default=None, description="Restored when scale_to_zero is lifted")
    updated_at: Timestamp | None = None
