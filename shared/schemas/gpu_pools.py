"""GET /v1/gpu-pools: the pools a create form offers, with the model's VRAM estimate."""

from __future__ import annotations

from pydantic import BaseModel, Field


class GpuPoolOption(BaseModel):
    pool: str = Field(examples=["AMPERE_48"], description="Use as gpu_tier")
    gpus: list[str]
    vram_gb: int
    fits: bool = Field(description="The model fits on gpu_count of these GPUs")
    gpu_count: int | None = Field(description="GPUs per worker the model needs; null when it does not fit")
    price_per_gpu_hour: float | None
    price_per_hour: float | None = Field(description="For gpu_count GPUs, from the shipped price table")


class GpuPoolList(BaseModel):
    model_id: str | None
    required_vram_gb: float | None = Field(description="The estimate; null without ?model_id= or when unknown")
    estimate_error: str | None = Field(default=None, description="Why there is no estimate for this model")
    data: list[GpuPoolOption]
