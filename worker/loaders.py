"""Turn a downloaded model folder into a callable pipeline (diffusers or transformers) on the best device."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DIFFUSERS_TASKS = frozenset({"text-to-image", ""})


class UnsupportedModel(Exception):
    """The model's library or task is not one the inference container serves."""


@dataclass
class LoadedModel:
    model_id: str
    library: str  # "diffusers" or "transformers"
    task: str
    pipeline: Any
    device: str
    dtype: str
    path: Path
    facts: dict[str, Any] = field(default_factory=dict)


def pick_device(requested: str | None) -> tuple[str, Any]:
    """cuda (bf16 where supported, else fp16) when a GPU is there, else cpu (fp32)."""
    import torch

    device = requested or ("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda"):
        return device, torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return device, torch.float32


def load(
    model_id: str, path: Path, library: str, task: str, device: str, dtype: Any, variant: str | None = None
) -> LoadedModel:
    if library == "diffusers":
        if task not in DIFFUSERS_TASKS:
            raise UnsupportedModel(f"diffusers task {task!r} is not served by the inference container (text-to-image)")
        pipeline = _load_diffusers(path, device, dtype, variant)
        task = task or "text-to-image"
    elif library == "transformers":
        if not task:
            raise UnsupportedModel("the model has no pipeline_tag (MODEL_TASK): cannot tell which pipeline to build")
        from transformers import pipeline as build

        pipeline = build(task=task, model=str(path), device=device, dtype=dtype)
    else:
        raise UnsupportedModel(
            f"library {library or 'unknown'!r} is not served by the inference container (diffusers, transformers)"
        )
    return LoadedModel(
        model_id=model_id,
        library=library,
        task=task,
        pipeline=pipeline,
        device=device,
        dtype=str(dtype).removeprefix("torch."),
        path=path,
        facts={"pipeline_class": type(pipeline).__name__},
    )


def _load_diffusers(path: Path, device: str, dtype: Any, variant: str | None) -> Any:
    from diffusers import DiffusionPipeline

    kwargs: dict[str, Any] = {"dtype": dtype}
    if variant:
        kwargs["variant"] = variant
    pipeline = DiffusionPipeline.from_pretrained(str(path), **kwargs)
    pipeline.to(device)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline
