"""Runpod jobs on one deployment (run, runsync, status, stream, cancel, purge-queue), through its
endpoint's runtime API.

Bodies are checked only as far as Runpod's job envelope goes; `input` reaches the worker as is. Answers
keep the shapes the official `runpod` SDK reads (it indexes `stream` directly, so it is always a list).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from shared.deploy.green import draining_endpoint
from shared.platform.errors import BadGatewayError, NotFoundError, ValidationError
from shared.proxy.upstream import connect, upstream_errors
from shared.schemas.stored import Deployment
from shared.services import Services

MAX_BODY_BYTES = 10 * 1024 * 1024  # Runpod's limit for /run payloads
RUNSYNC_DEFAULT_WAIT_MS = 60_000
RUNSYNC_MAX_WAIT_MS = 120_000  # the inference function's timeout must exceed this (plus HTTP_TIMEOUT_SECONDS)
if TYPE_CHECKING:  # the runtime client brings httpx: only its type is needed here
    from shared.clients.runpod import RuntimeClient

JOB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")
RUN_FIELDS = ("input", "webhook", "policy", "s3Config")


def run_body(body: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(body) - set(RUN_FIELDS))
    if unknown:
        raise ValidationError(
            f"unknown field(s) {', '.join(unknown)}; a job takes {', '.join(RUN_FIELDS)}",
            {"fields": unknown},
        )
    if not isinstance(body.get("input"), dict):
        raise ValidationError("input is required: the job's input object", {"field": "input"})
    return {k: body[k] for k in RUN_FIELDS if body.get(k) is not None}


def runsync_wait_ms(raw: str | None) -> int:
    if raw is None or raw == "":
        return RUNSYNC_DEFAULT_WAIT_MS
    try:
        wait = int(raw)
    except ValueError:
        raise ValidationError("wait must be an integer number of milliseconds", {"field": "wait"}) from None
    return max(1000, min(RUNSYNC_MAX_WAIT_MS, wait))


def check_job_id(job_id: str) -> str:
    if not JOB_ID.match(job_id):
        raise NotFoundError(f"Job {job_id[:140]} not found", {"job_id": job_id[:140]})
    return job_id


def run(svc: Services, dep: Deployment, body: dict[str, Any]) -> dict[str, Any]:
    with connect(svc, dep) as runtime, upstream_errors(dep):
        return job_view(runtime.run(body), dep)


def status(svc: Services, dep: Deployment, job_id: str) -> dict[str, Any]:
    check_job_id(job_id)
    return job_view(_on_job_endpoint(svc, dep, job_id, lambda runtime: runtime.status(job_id)), dep)


def cancel(svc: Services, dep: Deployment, job_id: str) -> dict[str, Any]:
    check_job_id(job_id)
    return job_view(_on_job_endpoint(svc, dep, job_id, lambda runtime: runtime.cancel(job_id)), dep)


def stream(svc: Services, dep: Deployment, job_id: str) -> dict[str, Any]:
    """The job's status and the output chunks produced since the last call (`stream`: always a list)."""
    check_job_id(job_id)
    data = _on_job_endpoint(svc, dep, job_id, lambda runtime: runtime.stream(job_id))
    if not isinstance(data, dict) or not isinstance(data.get("status"), str):
        raise BadGatewayError("Runpod answered a stream with something that is not a job", _where(dep))
    chunks = data.get("stream")
    return {**data, "id": data.get("id", job_id), "stream": chunks if isinstance(chunks, list) else [],
            "deployment_id": dep.deployment_id}  # fmt: skip


def _on_job_endpoint(svc: Services, dep: Deployment, job_id: str, call: Callable[[RuntimeClient], Any]) -> Any:
    """A job call on the serving endpoint; a job it does not know, while a green update drains the
    previous endpoint, is looked up there (a job submitted just before the switch finishes on it)."""
    try:
        with connect(svc, dep) as runtime, upstream_errors(dep, job_id):
            return call(runtime)
    except NotFoundError:
        previous = draining_endpoint(dep)
        if previous is None:
            raise
    old = dep.model_copy(update={"runpod_endpoint_id": previous})
    with connect(svc, old) as runtime, upstream_errors(dep, job_id):
        return call(runtime)


def purge_queue(svc: Services, dep: Deployment) -> dict[str, Any]:
    """Cancel the endpoint's queued jobs (running ones go on): Runpod's `{"removed", "status"}`."""
    with connect(svc, dep) as runtime, upstream_errors(dep):
        data = runtime.purge_queue()
    if not isinstance(data, dict):
        raise BadGatewayError("Runpod answered a queue purge with something that is not an object", _where(dep))
    return {**data, "deployment_id": dep.deployment_id}


def _where(dep: Deployment) -> dict[str, Any]:
    return {"deployment_id": dep.deployment_id}


def job_view(data: Any, dep: Deployment) -> dict[str, Any]:
    if not isinstance(data, dict) or "id" not in data:
        raise BadGatewayError("Runpod answered with something that is not a job", _where(dep))
    return {**data, "deployment_id": dep.deployment_id}
