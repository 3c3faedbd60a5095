"""Handlers of the inference proxy: Runpod jobs per deployment, and the OpenAI-compatible routes."""

from __future__ import annotations

from typing import Any

from flask import Request, Response

from functions import http, longcalls
from functions.http import json_response
from functions.routing import Call
from shared.platform.errors import ValidationError
from shared.proxy import inference

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def read_json(request: Request) -> dict[str, Any]:
    """Inference inputs may be far larger than the API's other bodies."""
    return http.read_json(request, inference.MAX_BODY_BYTES)


# ---- Runpod jobs on one deployment ----


def run_job(call: Call, deployment_id: str) -> Response:
    svc, request, headers = call.svc, call.request, call.headers()
    dep = inference.serving(svc, call.owner, deployment_id)
    body = inference.run_body(read_json(request))
    return json_response(inference.Runtime(svc, dep).run(body), 200, headers)


def run_job_sync(call: Call, deployment_id: str) -> Response:
    svc, request, headers = call.svc, call.request, call.headers()
    dep = inference.serving(svc, call.owner, deployment_id)
    wait = inference.runsync_wait_ms(request.args.get("wait"))
    body = inference.run_body(read_json(request))
    runtime = inference.Runtime(svc, dep)
    return longcalls.held(svc, call.owner, lambda: json_response(runtime.runsync(body, wait), 200, headers))


def job_status(call: Call, deployment_id: str, job_id: str) -> Response:
    svc, headers = call.svc, call.headers()
    dep = inference.with_jobs(svc, call.owner, deployment_id)
    return json_response(inference.Runtime(svc, dep).status(job_id), 200, headers)


def cancel_job(call: Call, deployment_id: str, job_id: str) -> Response:
    svc, headers = call.svc, call.headers()
    dep = inference.with_jobs(svc, call.owner, deployment_id)
    return json_response(inference.Runtime(svc, dep).cancel(job_id), 200, headers)


# ---- OpenAI-compatible ----


def chat_completions(call: Call) -> Response:
    return _openai(call, "chat/completions")


def completions(call: Call) -> Response:
    return _openai(call, "completions")


def list_models(call: Call) -> Response:
    svc, headers = call.svc, call.headers()
    return json_response(inference.list_models(svc, call.owner), 200, headers)


def _openai(call: Call, path: str) -> Response:
    svc, request, headers = call.svc, call.request, call.headers()
    body = read_json(request)
    model, stream = body.get("model"), body.get("stream", False)
    if not isinstance(model, str):
        raise ValidationError("model is required: a deployed Hugging Face model id (see GET /v1/models)")
    if not isinstance(stream, bool):
        raise ValidationError("stream must be true or false", {"field": "stream"})
    dep = inference.route_model(svc, call.owner, model)
    headers["X-Deployment-Id"] = dep.deployment_id
    upstream = {**body, "model": dep.model_id}  # vLLM serves the HF id (MODEL_NAME)
    return longcalls.held(svc, call.owner, lambda: _proxy(inference.Runtime(svc, dep), path, upstream, headers))


def _proxy(runtime: inference.Runtime, path: str, upstream: dict[str, Any], headers: dict[str, str]) -> Response:
    stream = upstream.get("stream", False)
    if not stream:
        return json_response(runtime.openai(path, upstream), 200, headers)
    result = runtime.openai_stream(path, upstream)
    if isinstance(result, inference.Stream):
        return Response(result.chunks, status=200, mimetype="text/event-stream", headers={**headers, **SSE_HEADERS})
    return json_response(result, 200, headers)
