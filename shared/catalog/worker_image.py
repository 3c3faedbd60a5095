"""Which worker image serves a model, with which environment, and why."""

from __future__ import annotations

from dataclasses import dataclass

from shared.platform.settings import Settings

EMBEDDING_TASKS = ("feature-extraction", "sentence-similarity")
# The lowest CUDA version both images run on (Runpod's worker-v1-vllm v2.25 and torch 2.13's PyPI build are
# built against CUDA 12.8): sent as the endpoint's gpu.minCudaVersion, so Runpod never places a worker on
# a host whose driver is older, and used to scope the catalog's availability.
MIN_CUDA_VERSION = "12.8"


@dataclass(frozen=True)
class WorkerPlan:
    image: str
    kind: str  # "vllm" (Runpod's vLLM worker; no callbacks) or "inference-container" (ours)
    env: dict[str, str]
    reason: str
    min_cuda_version: str = MIN_CUDA_VERSION


def plan_worker(
    settings: Settings,
    model_id: str,
    library_name: str | None,
    pipeline_tag: str | None,
    gpu_count: int,
    max_model_len: int | None,
) -> WorkerPlan:
    llm = pipeline_tag in ("text-generation", "text2text-generation", "image-text-to-text") and library_name in (
        None,
        "transformers",
        "vllm",
    )
    # vLLM serves embedding models (a pooling runner, chosen from the architecture) on /v1/embeddings.
    embedder = pipeline_tag in EMBEDDING_TASKS and library_name in (None, "transformers", "sentence-transformers")
    if llm or embedder:
        env = {
            "MODEL_NAME": model_id,
            "TENSOR_PARALLEL_SIZE": str(gpu_count),
            "GPU_MEMORY_UTILIZATION": "0.90",
        }
        if max_model_len:
            env["MAX_MODEL_LEN"] = str(max_model_len)
        return WorkerPlan(
            image=settings.vllm_worker_image,
            kind="vllm",
            env=env,
            reason=f"pipeline_tag={pipeline_tag}, library_name={library_name}: served by vLLM",
        )
    return WorkerPlan(
        image=settings.runpod_worker_image,
        kind="inference-container",
        env={"MODEL_LIBRARY": library_name or "", "MODEL_TASK": pipeline_tag or ""},
        reason=f"pipeline_tag={pipeline_tag}, library_name={library_name}: served by the inference container",
    )
