"""Handlers for what users do with a deployment after creating it: list, health, scale, stop/start, logs
(shaped by functions/log_views.py)."""

from __future__ import annotations

from flask import Response

from functions import log_views
from functions.http import int_arg, json_response, parse_body
from functions.routing import Call
from shared.deploy import health, listing, quotas, records, scaling, view
from shared.schemas.deployments import (
    DeploymentHealth,
    DeploymentList,
    LifecycleResponse,
    ScaleRequest,
    ScaleResponse,
)


def list_deployments(call: Call) -> Response:
    svc, request, headers = call.svc, call.request, call.headers()
    limit = int_arg(request, "limit", 20, 1, listing.MAX_PAGE) or 20
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
    return log_views.logs_response(call, records.owned(call.svc, call.owner, deployment_id))


def stream_deployment_logs(call: Call, deployment_id: str) -> Response:
    records.owned(call.svc, call.owner, deployment_id)
    return log_views.stream_response(call, deployment_id, call.owner)
