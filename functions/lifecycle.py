"""Handlers for what users do with a deployment after creating it: list, health, scale, stop/start, logs."""

from __future__ import annotations

import json
from collections.abc import Iterator

from flask import Request, Response, stream_with_context

from functions import longcalls
from functions.http import json_response, parse_body
from functions.routing import Call
from shared.deploy import health, listing, logs, quotas, records, scaling, view
from shared.platform.errors import ValidationError
from shared.schemas.deployments import (
    DeploymentHealth,
    DeploymentList,
    LifecycleResponse,
    LogsResponse,
    ScaleRequest,
    ScaleResponse,
)


def _int_arg(request: Request, name: str, default: int | None, low: int, high: int) -> int | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValidationError(f"{name} must be an integer", {"field": name}) from None
    if not low <= value <= high:
        raise ValidationError(f"{name} must be between {low} and {high}", {"field": name})
    return value


def _bool_arg(request: Request, name: str) -> bool:
    return request.args.get(name, "").lower() in ("1", "true", "yes")


def list_deployments(call: Call) -> Response:
    svc, request, headers = call.svc, call.request, call.headers()
    limit = _int_arg(request, "limit", 20, 1, listing.MAX_PAGE) or 20
    deps, cursor = listing.list_deployments(
        svc,
        call.owner,
        request.args.get("status"),
        request.args.get("model_id"),
        limit,
        request.args.get("cursor"),
    )
    data = [view.summary(svc, d) for d in deps]
    return json_response(DeploymentList(data=data, next_cursor=cursor), 200, headers)


def deployment_health(call: Call, deployment_id: str) -> Response:
    svc, headers = call.svc, call.headers()
    dep = records.owned(svc, call.owner, deployment_id)
    return json_response(DeploymentHealth.model_validate(health.health(svc, dep)), 200, headers)


def scale_deployment(call: Call, deployment_id: str) -> Response:
    svc, request, headers = call.svc, call.request, call.headers()
    body = parse_body(request, ScaleRequest)
    dep = records.owned(svc, call.owner, deployment_id)
    quotas.reserve_scale(svc, dep, body.max_replicas)
    after = scaling.scale(svc, dep, body.min_replicas, body.max_replicas)
    answer = ScaleResponse(
        message="Autoscaling configuration updated successfully",
        min_replicas=after.min_replicas,
        max_replicas=after.max_replicas,
    )
    return json_response(answer, 200, headers)


def stop_deployment(call: Call, deployment_id: str) -> Response:
    svc, headers = call.svc, call.headers()
    dep = records.owned(svc, call.owner, deployment_id)
    result = scaling.stop(svc, dep)
    return json_response(
        LifecycleResponse(message="Deployment stopped successfully", update_result=result), 200, headers
    )


def start_deployment(call: Call, deployment_id: str) -> Response:
    svc, headers = call.svc, call.headers()
    dep = records.owned(svc, call.owner, deployment_id)
    result = scaling.start(svc, dep)
    return json_response(
        LifecycleResponse(message="Deployment started successfully", update_result=result), 200, headers
    )


def deployment_logs(call: Call, deployment_id: str) -> Response:
    svc, request, headers = call.svc, call.request, call.headers()
    dep = records.owned(svc, call.owner, deployment_id)
    tail = _int_arg(request, "tail", None, 1, 5000)
    since = request.args.get("since")
    lines = logs.read(svc, deployment_id, tail=tail if tail else (None if since else 100), since=since)
    worker_error = None
    if _bool_arg(request, "workers"):
        extra, worker_error = logs.worker_lines(svc, dep, tail or 100)
        lines = sorted([*lines, *extra], key=lambda line: line.timestamp)
    return json_response(LogsResponse(data=lines, worker_logs_error=worker_error), 200, headers)


def stream_deployment_logs(call: Call, deployment_id: str) -> Response:
    svc, request, headers = call.svc, call.request, call.headers()
    records.owned(svc, call.owner, deployment_id)
    last = request.headers.get("Last-Event-ID") or request.args.get("last_event_id")

    def respond() -> Response:
        events = logs.stream(svc, deployment_id, last, _bool_arg(request, "follow"))
        first = next(events, None)  # validates Last-Event-ID before the 200 goes out
        return Response(
            stream_with_context(_sse(first, events)),
            mimetype="text/event-stream",
            headers={**headers, "Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    return longcalls.held(svc, call.owner, respond)


def _sse(first: logs.Event | None, rest: Iterator[logs.Event]) -> Iterator[str]:
    yield "retry: 2000\n\n"
    if first is None:
        return
    for name, event_id, data in _chain(first, rest):
        if name == ":":
            yield ": keep-alive\n\n"
            continue
        head = f"id: {event_id}\n" if event_id else ""
        yield f"{head}event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def _chain(first: logs.Event, rest: Iterator[logs.Event]) -> Iterator[logs.Event]:
    yield first
    yield from rest
