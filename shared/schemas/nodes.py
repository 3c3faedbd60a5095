"""Seed 004's node shapes (/admin/nodes, /v1/instances): a deployment as the seed's SkyPilot guide shows a
GPU node. The mapping from deployments is shared/deploy/nodes.py."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from shared.clients.header_tokens import check_token
from shared.platform.clock import Timestamp

NodeStatus = Literal["launching", "initializing", "active", "stopped", "failed", "terminating", "terminated"]


class InstanceLaunch(BaseModel):
    """POST /v1/instances (and the base of an admin launch): the seed's body. Runpod stands in for SkyPilot:
    `provider` and `region` are recorded as asked (Runpod places the workers), `gpu` is a GPU name or pool
    (a cloud-only name such as A10G maps to its Runpod pool), `idle_minutes_to_autostop` becomes the
    workers' idle timeout (scale to zero, at most 60 minutes)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    model: str = Field(min_length=1, max_length=193, examples=["meta-llama/Llama-3.1-8B-Instruct"])
    provider: str | None = Field(default=None, max_length=64, examples=["aws"])
    region: str | None = Field(default=None, max_length=64, examples=["us-west-2"])
    gpu: str = Field(default="auto", min_length=1, max_length=64, examples=["A10G"])
    gpu_count: int = Field(default=1, ge=1, le=8)
    idle_minutes_to_autostop: int | None = Field(default=None, ge=1, le=60)
    use_spot: bool = False
    credential_id: str | None = Field(default=None, max_length=64, description="A stored credential to launch with")
    hf_token: SecretStr | None = Field(default=None, max_length=512, description="For gated or private models")

    @field_validator("hf_token")
    @classmethod
    def _header_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            check_token(value.get_secret_value())
        return value


class NodeLaunch(InstanceLaunch):
    """POST /admin/nodes/launch. Runs with OPERATOR_RUNPOD_API_KEY, or with `credential_id` of `tenant_id`;
    with `tenant_id` the node is that tenant's (its default credential when no credential_id), else the
    operator's (shared inference). The operator's HF_TOKEN reads and downloads gated models."""

    tenant_id: str | None = Field(default=None, max_length=128, description="The tenant the node is for")


class Node(BaseModel):
    id: str
    cluster_name: str = Field(description="The Runpod endpoint's name")
    model_name: str
    provider: str = Field(description="runpod (where it runs)")
    requested_provider: str | None = None
    region: str | None = None
    gpu: str = Field(description="The GPU asked for")
    gpu_pool: str | None = Field(default=None, description="The Runpod pool it runs on")
    gpu_count: int
    status: NodeStatus
    deployment_status: str = Field(description="The deployment's own status (GET /admin/deployments/{id})")
    endpoint: str | None = Field(default=None, description="The OpenAI-compatible base URL once active")
    request_id: str = Field(description="The launch task (GET /v1/tasks/{id})")
    tenant_id: str | None = Field(default=None, description="null: the operator's own (shared inference)")
    message: str | None = None
    error: str | None = None
    use_spot: bool = False
    idle_minutes_to_autostop: int | None = None
    created_at: Timestamp
    ready_at: Timestamp | None = None


class NodeList(BaseModel):
    data: list[Node]
    next_cursor: str | None = None


class Termination(BaseModel):
    status: NodeStatus
    deployment_status: str = Field(description="The deployment's own status (deleted once purged)")
    message: str
    purge: Literal["none", "pending", "done"] = Field(
        default="none", description="pending: the record goes once the endpoint is verified gone"
    )
    request_id: str | None = Field(default=None, description="The delete task")
