"""Seed 004's nodes on the deployment domain: a launch becomes a deployment (create), a deployment shows as
a node, and its log stream's events take the seed's shape. /admin/nodes and /v1/instances are these.

One table says how a deployment's status reads as the seed's node status (launching, initializing, active,
failed, terminating, terminated); everything else a node shows is read from the deployment."""

from __future__ import annotations

from typing import Any

from shared.catalog import model_registry
from shared.catalog.model_names import UnknownModel
from shared.deploy import create, logs, records, tasks
from shared.schemas.deployments import CreateDeploymentRequest
from shared.schemas.nodes import InstanceLaunch, Node, NodeStatus
from shared.schemas.states import Status
from shared.schemas.stored import Deployment
from shared.services import Services

S = Status
NODE_STATUS: dict[Status, NodeStatus] = {
    S.VALIDATING: "launching",
    S.SELECTING_GPU: "launching",
    S.CREATING_ENDPOINT: "launching",
    S.DOWNLOADING_MODEL: "initializing",
    S.LOADING_MODEL: "initializing",
    S.READY: "active",
    S.WEBHOOK_FAILED: "active",
    S.PAUSED: "stopped",
    S.FAILED: "failed",
    S.DELETING: "terminating",
    S.CLEANUP_FAILED: "terminating",  # the reconciler keeps deleting; deployment_status says cleanup_failed
    S.DELETED: "terminated",
}
# GPUs of the clouds SkyPilot launches on that Runpod does not list: the Runpod pool of the same class.
CLOUD_GPUS = {"a10g": "AMPERE_24", "a10": "AMPERE_24", "t4": "AMPERE_16"}
DONE_MESSAGES: dict[NodeStatus, str] = {
    "active": "Node ready",
    "stopped": "Node stopped",
    "terminated": "Node terminated",
}


def node_status(status: Status | str) -> NodeStatus:
    return NODE_STATUS[Status(status)]


def deployment_body(svc: Services, body: InstanceLaunch, inline_key: str | None) -> dict[str, Any]:
    """The create request (shared/deploy/create.py) a launch stands for; validated by the caller."""
    try:
        model_registry.resolve(svc, body.model, None)
        model: dict[str, Any] = {"model_name": body.model}  # a registered name (POST /admin/models)
    except UnknownModel:
        model = {"hf_model_id": body.model}
    idle = body.idle_minutes_to_autostop
    request: dict[str, Any] = {
        **model,
        "gpu_tier": CLOUD_GPUS.get(body.gpu.lower(), body.gpu),
        "gpu_count": body.gpu_count,
        "user_runpod_key": inline_key,
        "credential_id": body.credential_id,
        "user_hf_token": body.hf_token.get_secret_value() if body.hf_token else None,
    }
    if idle is not None:
        request["idle_timeout_seconds"] = idle * 60
    return {k: v for k, v in request.items() if v is not None}


def launch(
    svc: Services, owner: str, request: CreateDeploymentRequest, body: InstanceLaunch, *, operator_hf: bool
) -> Deployment:
    """Create the deployment, recording the launch's own fields (what the seed's node shows)."""
    asked = body.model_dump(include={"provider", "region", "gpu", "use_spot", "idle_minutes_to_autostop"})
    created = create.create(svc, owner, request, launch=asked, operator_hf=operator_hf)
    dep = records.load(svc, created.deployment_id)
    assert dep is not None  # just inserted; a deployment is only removed by a purge after its deletion
    return dep


def to_node(dep: Deployment, tenant_id: str | None) -> Node:
    asked = dep.launch
    status = node_status(dep.status)
    return Node(
        id=dep.deployment_id,
        cluster_name=dep.endpoint_name,
        model_name=dep.model_id,
        provider="runpod",
        requested_provider=asked.get("provider"),
        region=asked.get("region"),
        gpu=asked.get("gpu") or dep.gpu_tier,
        gpu_pool=dep.gpu_allocated,
        gpu_count=dep.gpu_count if dep.gpu_pools else (dep.gpu_count_requested or dep.gpu_count),
        status=status,
        deployment_status=dep.status.value,
        endpoint=dep.endpoint_url if status == "active" else None,
        request_id=tasks.deploy_task_id(dep.deployment_id),
        tenant_id=tenant_id,
        message=dep.worker_message,
        error=dep.error.message if dep.error else None,
        use_spot=bool(asked.get("use_spot")),
        idle_minutes_to_autostop=asked.get("idle_minutes_to_autostop"),
        created_at=dep.created_at,
        ready_at=dep.ready_at,
    )


def node_event(event: logs.Event) -> logs.Event:
    """A log stream event in the seed's shape: status and done name the node status; done (the last one)
    is `{"status": "active", "endpoint": ..., "message": "Node ready"}`. Ids are unchanged (resume works)."""
    name, event_id, data = event
    if data is None or name not in ("status", "done"):
        return event
    status = node_status(data["status"])
    error = data.get("error") or {}
    shown = {**data, "status": status, "deployment_status": data["status"]}
    if name == "done":
        message = DONE_MESSAGES.get(status) or error.get("message") or f"Node {status}"
        shown = {**shown, "endpoint": data.get("endpoint_url") if status == "active" else None, "message": message}
    return name, event_id, shown
