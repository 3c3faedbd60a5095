"""How a deployment's GPU pools were chosen, as GET /v1/deployments/{id} shows it."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class PlacementCandidate(BaseModel):
    pool: str
    gpus: list[str] = Field(description="The GPU types in the pool")
    gpu_count: int = Field(description="GPUs per worker")
    vram_gb: int = Field(description="VRAM of one GPU")
    price_per_gpu_hour: float | None = None
    availability: str | None = Field(
        default=None, description="Runpod's live stock (NONE, LOW, MEDIUM, HIGH); null when the catalog did not answer"
    )
    chosen: bool
    skipped: bool
    reason: str


class PlacementChange(BaseModel):
    """One re-placement: the endpoint's pools widened because no worker had started (wait_ready)."""

    at: str = Field(description="When it was decided (ISO 8601)")
    window: int = Field(description="Which timeout window (1 = the first PLACEMENT_TIMEOUT_SECONDS)")
    reason: str
    state: Literal["pending", "applied", "failed", "refused", "exhausted"] = Field(
        description="pending: sent, not confirmed yet; applied: Runpod lists the pools; failed: Runpod refused the "
        "update; refused: the endpoint is not this deployment's; exhausted: no more pools fit under the ceiling"
    )
    previous_pools: list[str]
    added_pools: list[str] = []
    pools: list[str] = Field(default=[], description="The pools asked for: previous_pools + added_pools")
    error: str | None = None


class Placement(BaseModel):
    required_vram_gb: float
    min_cuda_version: str | None = Field(default=None, description="The image's CUDA floor (gpu.minCudaVersion)")
    data_center_ids: list[str] = []
    availability_source: str = Field(
        description="runpod_catalog, `price_only` (PLACEMENT_MODE), or `unavailable: <why>` when pools were "
        "ranked by price alone"
    )
    candidates: list[PlacementCandidate] = Field(description="Every pool: fitting ones ranked first")
    chosen: list[str] = Field(description="The pools the endpoint lists, in priority order")
    mode: Literal["availability", "price_only"] = Field(
        default="availability", description="PLACEMENT_MODE: price_only ranks by price alone and never re-places"
    )
    max_price_per_gpu_hour: float | None = Field(default=None, description="The user's price ceiling, if any")
    history: list[PlacementChange] = Field(default=[], description="Each re-placement, oldest first")
