"""The model cache a deployment asks for, and the Runpod network volume that holds it."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

ModelCache = Literal["none", "network_volume"]
MODEL_CACHE_FIELD = (
    "network_volume: keep the model's weights on a Runpod network volume of your tenant (created or reused in "
    "a data center that has the chosen GPUs), so a restart or a new worker does not download them again; it "
    "pins workers to that data center. none (default): every worker downloads the weights."
)


class NetworkVolumeInfo(BaseModel):
    id: str
    name: str = Field(description="do-<install>-cache-<tenant tag>-<data center>: the product's own volumes only")
    data_center: str
    size_gb: int
    created: bool = Field(description="True when this deployment created it; false when it reused the tenant's")
    mount_path: str = "/runpod-volume"
