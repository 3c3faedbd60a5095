"""Handlers for seed 004's /v1/instances: a pro or enterprise tenant's own nodes, on the deployment domain
(shared/deploy/nodes.py) with the tenant's credentials. The operator's HF_TOKEN is used only as
HF_TOKEN_FOR_TENANTS allows (shared/deploy/steps/sizing.py); pass hf_token for a gated model."""

from __future__ import annotations

from flask import Response

from functions import log_views
from functions.http import int_arg, json_response, parse_body, validated
from functions.routing import Call
from shared.deploy import delete, listing, nodes, records
from shared.schemas.deployments import CreateDeploymentRequest
from shared.schemas.nodes import InstanceLaunch, NodeList, Termination


def launch_instance(call: Call) -> Response:
    svc = call.svc
    body = parse_body(call.request, InstanceLaunch)
    request = validated(CreateDeploymentRequest, nodes.deployment_body(svc, body, None))
    dep = nodes.launch(svc, call.owner, request, body, operator_hf=False)
    return json_response(nodes.to_node(dep, call.owner), 202, call.headers())


def list_instances(call: Call) -> Response:
    request = call.request
    deps, cursor = listing.list_deployments(
        call.svc,
        call.owner,
        request.args.get("status"),
        request.args.get("model"),
        int_arg(request, "limit", 20, 1, listing.MAX_PAGE) or 20,
        request.args.get("cursor"),
    )
    data = [nodes.to_node(d, call.owner) for d in deps]
    return json_response(NodeList(data=data, next_cursor=cursor), 200, call.headers())


def get_instance(call: Call, instance_id: str) -> Response:
    dep = records.owned(call.svc, call.owner, instance_id)
    return json_response(nodes.to_node(dep, call.owner), 200, call.headers())


def terminate_instance(call: Call, instance_id: str) -> Response:
    task_id = delete.delete(call.svc, call.owner, instance_id)
    dep = records.owned(call.svc, call.owner, instance_id)
    answer = Termination(
        status=nodes.node_status(dep.status),
        deployment_status=dep.status.value,
        message="Instance termination initiated",
        request_id=task_id,
    )
    return json_response(answer, 200, call.headers())


def instance_logs(call: Call, instance_id: str) -> Response:
    return log_views.logs_response(call, records.owned(call.svc, call.owner, instance_id))


def stream_instance_logs(call: Call, instance_id: str) -> Response:
    records.owned(call.svc, call.owner, instance_id)
    return log_views.stream_response(call, instance_id, call.owner, nodes.node_event)
