"""What the orchestrator tells the worker, read from the environment the endpoint was created with."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

NETWORK_VOLUME = Path("/runpod-volume")


class SettingsError(Exception):
    """The environment cannot describe a model to serve; the message names what is missing."""


@dataclass(frozen=True)
class WorkerSettings:
    deployment_id: str
    model_id: str
    library: str  # MODEL_LIBRARY: the Hub's library_name (diffusers, transformers, ...)
    task: str  # MODEL_TASK: the Hub's pipeline_tag (text-to-image, text-classification, ...)
    callback_url: str | None
    callback_secret: str | None
    hf_token: str | None = None
    hf_endpoint: str | None = None
    revision: str | None = None
    cache_dir: Path | None = None
    device: str | None = None  # None: cuda when available, else cpu

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> WorkerSettings:
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            value = (env.get(name) or "").strip()
            return value or None

        model_id = get("HF_MODEL_ID")
        if model_id is None:
            raise SettingsError("HF_MODEL_ID is not set: the worker does not know which model to serve")
        cache = get("MODEL_CACHE_DIR")
        if cache is None and NETWORK_VOLUME.is_dir():
            cache = str(NETWORK_VOLUME / "huggingface")  # survives worker restarts on a network volume
        return cls(
            deployment_id=get("DEPLOYMENT_ID") or "local",
            model_id=model_id,
            library=(get("MODEL_LIBRARY") or "").lower(),
            task=(get("MODEL_TASK") or "").lower(),
            callback_url=get("ORCHESTRATOR_CALLBACK_URL"),
            callback_secret=get("ORCHESTRATOR_CALLBACK_SECRET"),
            hf_token=get("HF_TOKEN"),
            hf_endpoint=get("HF_ENDPOINT"),
            revision=get("MODEL_REVISION"),
            cache_dir=Path(cache) if cache else None,
            device=get("WORKER_DEVICE"),
        )
