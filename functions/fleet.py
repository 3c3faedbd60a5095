"""Handlers for the operator's fleet: /admin/deployments (every tenant's deployments) and seed 004's
/admin/nodes on the same domain (shared/deploy/fleet.py, shared/deploy/nodes.py). Guarded by ADMIN_TOKEN."""

from __future__ import annotations

from flask import Response

from functions import log_views
from functions.http import bool_arg, int_arg, json_response, parse_body, validated
from functions.routing import Call
from shared.deploy import fleet, listing, nodes, view
from shared.schemas.deployments import CreateDeploymentRequest
from shared.schemas.fleet import FleetDeployment, FleetDeploymentList, FleetDeploymentSummary
from shared.schemas.nodes import NodeLaunch, NodeList, Termination
from shared.schemas.stored import Deployment

HOLDER = fleet.OPERATOR  # whose long-request slots the operator's log streams take


def _page(call: Call) -> tuple[list[Deployment], str | None]:
    args = call.request.args
    return fleet.list_fleet(
        call.svc,
        tenant_id=args.get("tenant_id"),
        status=args.get("status"),
        model=args.get("model") or args.get("model_id"),
        gpu=args.get("gpu"),
        limit=int_arg(call.request, "limit", 20, 1, listing.MAX_PAGE) or 20,
        cursor=args.get("cursor"),
    )


def _terminate(call: Call, deployment_id: str, noun: str) -> Termination:
    dep = fleet.find(call.svc, deployment_id)
    purge = bool_arg(call.request, "purge")
    after, task_id, state = fleet.terminate(call.svc, dep, purge_record=purge)
    status = "terminated" if state == "done" else nodes.node_status(after.status)
    message = {
        "done": f"{noun} terminated and purged",
        "pending": f"{noun} termination initiated; the record is purged once the endpoint is verified gone",
    }.get(state, f"{noun} termination initiated")
    shown = "deleted" if state == "done" else after.status.value
    return Termination(status=status, deployment_status=shown, message=message, purge=state, request_id=task_id)


# ---- /admin/deployments ----


def list_fleet_deployments(call: Call) -> Response:
    svc = call.svc
    deps, cursor = _page(call)
    data = [FleetDeploymentSummary(**view.summary(svc, d).model_dump(), tenant_id=fleet.tenant_of(d)) for d in deps]
    return json_response(FleetDeploymentList(data=data, next_cursor=cursor))


def get_fleet_deployment(call: Call, deployment_id: str) -> Response:
    dep = fleet.find(call.svc, deployment_id)
    shown = view.view(call.svc, dep).model_dump()
    return json_response(FleetDeployment(**shown, tenant_id=fleet.tenant_of(dep), purge_requested=dep.purge_requested))


def terminate_fleet_deployment(call: Call, deployment_id: str) -> Response:
    return json_response(_terminate(call, deployment_id, "Deployment"), 202)


def fleet_deployment_logs(call: Call, deployment_id: str) -> Response:
    return log_views.logs_response(call, fleet.find(call.svc, deployment_id))


def stream_fleet_deployment_logs(call: Call, deployment_id: str) -> Response:
    fleet.find(call.svc, deployment_id)
    return log_views.stream_response(call, deployment_id, HOLDER)


# ---- /admin/nodes (seed 004) ----


def launch_node(call: Call) -> Response:
    svc = call.svc
    body = parse_body(call.request, NodeLaunch)
    owner = fleet.launch_owner(svc, body.tenant_id)
    key = fleet.launch_key(svc, body.tenant_id, body.credential_id)
    request = validated(CreateDeploymentRequest, nodes.deployment_body(svc, body, key))
    dep = nodes.launch(svc, owner, request, body, operator_hf=True)
    return json_response(nodes.to_node(dep, fleet.tenant_of(dep)), 202)


def list_nodes(call: Call) -> Response:
    deps, cursor = _page(call)
    return json_response(NodeList(data=[nodes.to_node(d, fleet.tenant_of(d)) for d in deps], next_cursor=cursor))


def get_node(call: Call, node_id: str) -> Response:
    dep = fleet.find(call.svc, node_id)
    return json_response(nodes.to_node(dep, fleet.tenant_of(dep)))


def terminate_node(call: Call, node_id: str) -> Response:
    return json_response(_terminate(call, node_id, "Node"))


def node_logs(call: Call, node_id: str) -> Response:
    return log_views.logs_response(call, fleet.find(call.svc, node_id))


def stream_node_logs(call: Call, node_id: str) -> Response:
    fleet.find(call.svc, node_id)
    return log_views.stream_response(call, node_id, HOLDER, nodes.node_event)
