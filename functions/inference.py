"""Handlers of the inference proxy: Runpod jobs per deployment, and the OpenAI-compatible routes."""

from __future__ import annotations

from typing import Any

from flask import Request, Response

from functions import http, longcalls
from functions.http import json_response
from functions.routing import Call
from shared.platform.errors import ValidationError
from shared.proxy import jobs, model_list, scale_up, waking
from shared.proxy.completions import Stream, complete, complete_stream
from shared.proxy.routing import route_model, serving, with_jobs
from shared.schemas.stored import Deployment
from shared.services import Services

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def read_json(request: Request) -> dict[str, Any]:
    """Inference inputs may be far larger than the API's other bodies."""
    return http.read_json(request, jobs.MAX_BODY_BYTES)


# ---- Runpod jobs on one deployment ----


def run_job(call: Call, deployment_id: str) -> Response:
    svc, request, headers = call.svc, call.request, call.headers()
    dep = serving(svc, call.owner, deployment_id)
    body = jobs.run_body(read_json(request))
    return json_response(jobs.run(svc, dep, body), 200, headers)


def run_job_sync(call: Call, deployment_id: str) -> Response:
    svc, request, headers = call.svc, call.request, call.headers()
    dep = serving(svc, call.owner, deployment_id)
    wait_ms = jobs.runsync_wait_ms(request.args.get("wait"))
    scale_up = _scale_up_wait(call, dep)
    body = jobs.run_body(read_json(request))

    def answer() -> Response:
        job = waking.runsync(svc, dep, body, wait_ms, scale_up)
        return json_response(job, 200, {**headers, **scale_up.header()})

    return longcalls.held(svc, call.owner, answer)


def job_status(call: Call, deployment_id: str, job_id: str) -> Response:
    svc, headers = call.svc, call.headers()
    dep = with_jobs(svc, call.owner, deployment_id)
    return json_response(jobs.status(svc, dep, job_id), 200, headers)


def cancel_job(call: Call, deployment_id: str, job_id: str) -> Response:
    svc, headers = call.svc, call.headers()
    dep = with_jobs(svc, call.owner, deployment_id)
    return json_response(jobs.cancel(svc, dep, job_id), 200, headers)


def job_stream(call: Call, deployment_id: str, job_id: str) -> Response:
    svc, headers = call.svc, call.headers()
    dep = with_jobs(svc, call.owner, deployment_id)
    return json_response(jobs.stream(svc, dep, job_id), 200, headers)


def purge_queue(call: Call, deployment_id: str) -> Response:
    svc, headers = call.svc, call.headers()
    dep = with_jobs(svc, call.owner, deployment_id)
    return json_response(jobs.purge_queue(svc, dep), 200, headers)


# Runpod's own paths for the same calls (`status/{job}`, `cancel/{job}`), so its SDK works unchanged;
# separate names because each route has its own OpenAPI operationId.
def runpod_status(call: Call, deployment_id: str, job_id: str) -> Response:
    return job_status(call, deployment_id, job_id)


def runpod_cancel(call: Call, deployment_id: str, job_id: str) -> Response:
    return cancel_job(call, deployment_id, job_id)


# ---- OpenAI-compatible ----


def chat_completions(call: Call) -> Response:
    return _openai(call, "chat/completions")


def completions(call: Call) -> Response:
    return _openai(call, "completions")


def embeddings(call: Call) -> Response:
    return _openai(call, "embeddings")


def list_models(call: Call) -> Response:
    svc, headers = call.svc, call.headers()
    return json_response(model_list.list_models(svc, call.owner), 200, headers)


def _openai(call: Call, path: str) -> Response:
    svc, request, headers = call.svc, call.request, call.headers()
    body = read_json(request)
    model, stream = body.get("model"), body.get("stream", False)
    if not isinstance(model, str):
        raise ValidationError("model is required: a deployed Hugging Face model id (see GET /v1/models)")
    if not isinstance(stream, bool):
        raise ValidationError("stream must be true or false", {"field": "stream"})
    dep = route_model(svc, call.owner, model)
    headers["X-Deployment-Id"] = dep.deployment_id
    upstream = {**body, "model": dep.model_id}  # vLLM serves the HF id (MODEL_NAME)
    scale_up = _scale_up_wait(call, dep)

    def answer() -> Response:
        waking.before_openai(svc, dep, scale_up)
        return _proxy(svc, dep, path, upstream, {**headers, **scale_up.header()})

    return longcalls.held(svc, call.owner, answer)


def _scale_up_wait(call: Call, dep: Deployment) -> scale_up.Wait:
    timeout = scale_up.timeout_seconds(call.request.headers.get(scale_up.HEADER), call.svc.settings)
    return scale_up.Wait(timeout, dep.deployment_id, dep.runpod_endpoint_id or "")


def _proxy(svc: Services, dep: Deployment, path: str, upstream: dict[str, Any], headers: dict[str, str]) -> Response:
    if not upstream.get("stream", False):
        return json_response(complete(svc, dep, path, upstream), 200, headers)
    result = complete_stream(svc, dep, path, upstream)
    if isinstance(result, Stream):
        return Response(result.chunks, status=200, mimetype="text/event-stream", headers={**headers, **SSE_HEADERS})
    return json_response(result, 200, headers)
