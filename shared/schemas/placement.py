"""How a deployment's GPU pools were chosen, as GET /v1/deployments/{id} shows it."""

from __future__ import annotations

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


class Placement(BaseModel):
    required_vram_gb: float
    min_cuda_version: str | None = Field(default=None, description="The image's CUDA floor (gpu.minCudaVersion)")
    data_center_ids: list[str] = []
    availability_source: str = Field(
        description="runpod_catalog, or `unavailable: <why>` when pools were ranked by price alone"
    )
    candidates: list[PlacementCandidate] = Field(description="Every pool: fitting ones ranked first")
    chosen: list[str] = Field(description="The pools the endpoint lists, in priority order")
