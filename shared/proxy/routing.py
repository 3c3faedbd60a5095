"""Which deployment serves a request: the one named in the path, or the newest serving `model` (the
caller's own, else one of the operator's nodes of that model: shared inference).

A deployment that is not serving answers 409 at once, naming its status, instead of a request
that hangs in Runpod's queue.
"""

from __future__ import annotations

from typing import Any

from shared.deploy.records import OPERATOR, owned
from shared.platform.errors import (
    BadRequestError,
    ConflictError,
    DeploymentNotFoundError,
    NotFoundError,
    ValidationError,
)
from shared.schemas.states import SERVING
from shared.schemas.stored import Deployment
from shared.services import Services
from shared.store import Query, Where

MAX_DEPLOYMENTS_SCANNED = 500


def serving(svc: Services, owner: str, deployment_id: str) -> Deployment:
    """The caller's deployment, if it can take requests now; 409 naming its status otherwise."""
    dep = owned(svc, owner, deployment_id)
    if dep.status not in SERVING or not dep.runpod_endpoint_id:
        raise not_ready(dep)
    return dep


def with_jobs(svc: Services, owner: str, deployment_id: str) -> Deployment:
    """For reading or cancelling jobs: the endpoint must still exist (serving, or paused)."""
    dep = owned(svc, owner, deployment_id)
    if (dep.status in SERVING or str(dep.status) == "paused") and dep.runpod_endpoint_id:
        return dep
    raise not_ready(dep)


def not_ready(dep: Deployment) -> ConflictError:
    status = str(dep.status)
    details: dict[str, Any] = {"deployment_id": dep.deployment_id, "status": status}
    if status == "paused":
        message = f"Deployment {dep.deployment_id} is paused: POST /v1/deployments/{dep.deployment_id}/start to resume"
    elif status == "failed":
        code = dep.error.code if dep.error else "unknown"
        details["error_code"] = code
        message = f"Deployment {dep.deployment_id} is failed ({code}): it cannot serve requests"
    elif status in ("deleting", "cleanup_failed", "deleted"):
        message = f"Deployment {dep.deployment_id} is {status}: it cannot serve requests"
    else:
        message = f"Deployment {dep.deployment_id} is {status}, not ready yet: retry once its status is ready"
    return ConflictError(message, details)


def deployments_of(svc: Services, owner: str, *where: Where, limit: int = MAX_DEPLOYMENTS_SCANNED) -> list[Deployment]:
    """The caller's deployments matching `where`, newest first (an index on owner, ..., created_at desc)."""
    query = Query(
        "deployments",
        where=(Where("owner", "==", owner), *where),
        order_by=(("created_at", "desc"),),
        limit=limit,
    )
    out = []
    for _, doc in svc.store.query(query):
        try:
            out.append(Deployment.model_validate(doc))
        except ValueError:
            continue  # a record this version cannot read is not routable
    return out


def route_model(svc: Services, owner: str, model: str) -> Deployment:
    """The caller's most recent serving vLLM deployment of `model` (an HF id, or a deployment id)."""
    if not model:
        raise ValidationError("model is required", {"field": "model"})
    matches = deployments_of(svc, owner, Where("model_id", "==", model), limit=50)
    if not matches and model.startswith("dep_"):
        try:
            matches = [owned(svc, owner, model)]
        except DeploymentNotFoundError:
            matches = []
    if not matches:  # shared inference: the operator's own nodes of the model serve every tenant
        matches = deployments_of(svc, OPERATOR, Where("model_id", "==", model), limit=50)
    ready = [d for d in matches if d.status in SERVING and d.runpod_endpoint_id]
    if not ready:
        if matches:
            raise not_ready(matches[0])
        raise NotFoundError(
            f"No deployment of model {model}: deploy it with POST /v1/deployments, or see GET /v1/models",
            {"model": model},
        )
    llm = [d for d in ready if d.worker.get("kind", "vllm") == "vllm"]
    if not llm:
        dep = ready[0]
        raise BadRequestError(
            f"{model} is served by the inference container, not an OpenAI-compatible server: "
            f"use POST /v1/deployments/{dep.deployment_id}/runsync",
            {"model": model, "deployment_id": dep.deployment_id},
        )
    return llm[0]
