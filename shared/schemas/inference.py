"""The request and response bodies of the inference proxy's routes (jobs, OpenAI-compatible, embeddings,
/v1/models).

The handlers pass job and OpenAI bodies through to Runpod as they are; these describe them in
/openapi.json. `ModelList` is built here and sent.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

OWNED_BY = "deployment-orchestrator"


class RunRequest(BaseModel):
    """A Runpod job: `input` goes to the worker as is."""

    model_config = ConfigDict(extra="forbid")

    input: dict[str, Any] = Field(examples=[{"prompt": "a lighthouse at dawn", "num_inference_steps": 4}])
    webhook: str | None = Field(default=None, max_length=2048, description="Runpod calls it when the job ends")
    policy: dict[str, Any] | None = None
    s3Config: dict[str, Any] | None = None  # Runpod's field name


class JobResponse(BaseModel):
    """Runpod's job view, passed through: `output` when COMPLETED, `error` when FAILED."""

    model_config = ConfigDict(extra="allow")

    id: str
    status: str = Field(examples=["IN_QUEUE", "IN_PROGRESS", "COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT"])
    deployment_id: str
    output: Any = None
    error: Any = None


class StreamChunk(BaseModel):
    model_config = ConfigDict(extra="allow")

    output: Any = None


class JobStream(JobResponse):
    """Runpod's stream view: the output chunks produced since the last call (empty when none)."""

    stream: list[StreamChunk] = Field(default_factory=list)


class PurgeQueueResponse(BaseModel):
    """Runpod's answer to a queue purge: queued jobs removed (running ones go on)."""

    model_config = ConfigDict(extra="allow")

    removed: int | None = None
    status: str | None = Field(default=None, examples=["completed"])
    deployment_id: str


class OpenAIRequest(BaseModel):
    """An OpenAI chat/completions or completions body; `model` is a deployed HF model id or a deployment id."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(examples=["meta-llama/Llama-3.1-8B-Instruct"])
    stream: bool = False


class EmbeddingRequest(BaseModel):
    """An OpenAI embeddings body; `model` is a deployed embedding model's HF id or a deployment id."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(examples=["BAAI/bge-small-en-v1.5"])
    input: str | list[str] | list[int] | list[list[int]] = Field(examples=[["a lighthouse at dawn"]])
    encoding_format: str | None = Field(default=None, examples=["float", "base64"])
    dimensions: int | None = None
    user: str | None = None


class Embedding(BaseModel):
    object: str = "embedding"
    index: int
    embedding: list[float] | str = Field(description="floats, or base64 little-endian float32 when asked")


class EmbeddingList(BaseModel):
    """OpenAI's embeddings answer, passed through from the deployment's server."""

    model_config = ConfigDict(extra="allow")

    object: str = "list"
    data: list[Embedding]
    model: str
    usage: dict[str, int] | None = None


class DeployableName(BaseModel):
    model_name: str
    provider: str | None = Field(description="null: any provider")
    task: str | None = None
    vram_required_gb: float | None = None


class ModelCard(BaseModel):
    """OpenAI's model object, plus whether it can be called now and the names that deploy it."""

    id: str
    object: str = "model"
    created: int
    owned_by: str = OWNED_BY
    ready: bool = Field(description="true: a ready deployment serves it; call it with `model` = id")
    deployment_id: str | None = None
    deployable_as: list[DeployableName] = Field(
        default_factory=list, description="model_name (+ provider) values of POST /v1/deployments for it"
    )


class ModelList(BaseModel):
    object: str = "list"
    data: list[ModelCard]
