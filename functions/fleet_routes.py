"""Routes of the operator's fleet (/admin/deployments) and of seed 004's nodes (/admin/nodes, and the
tenant's /v1/instances): the same deployments, the seed's node fields."""

from __future__ import annotations

from typing import Any

from functions.routing import Route

PAGE_QUERY: dict[str, dict[str, Any]] = {
    "limit": {"type": "integer", "minimum": 1, "maximum": 100},
    "cursor": {"type": "string", "description": "next_cursor of the previous page"},
}
FLEET_QUERY: dict[str, dict[str, Any]] = {
    "tenant_id": {"type": "string"},
    "status": {"type": "string", "description": "a deployment status"},
    "model": {"type": "string", "description": "the Hugging Face model id"},
    "gpu": {"type": "string", "description": "a GPU name or pool id (A40, AMPERE_48)"},
    **PAGE_QUERY,
}
PURGE_QUERY: dict[str, dict[str, Any]] = {
    "purge": {"type": "boolean", "description": "also remove the record and its logs once the endpoint is gone"}
}
TAIL_QUERY: dict[str, dict[str, Any]] = {"tail": {"type": "integer", "minimum": 1, "maximum": 5000}}
STREAM_QUERY: dict[str, dict[str, Any]] = {
    "follow": {"type": "boolean"},
    **TAIL_QUERY,
    "last_event_id": {"type": "string", "description": "as the Last-Event-ID header"},
}
_NODE: dict[int, str | None] = {200: "nodes:Node", 404: None}
_STREAM = "Live logs as Server-Sent Events: log, status and done (?follow=true, ?tail=; Last-Event-ID resumes)"

FLEET_ROUTES: list[Route] = [
    Route("GET", "/admin/deployments", "admin", "fleet:list_fleet_deployments",
          "Every tenant's deployments, newest first (?tenant_id=, ?status=, ?model=, ?gpu=, ?limit=, ?cursor=)",
          auth="admin", responses={200: "fleet:FleetDeploymentList", 422: None}, query=FLEET_QUERY, tag="fleet"),
    Route("GET", "/admin/deployments/{deployment_id}", "admin", "fleet:get_fleet_deployment",
          "Any tenant's deployment", auth="admin", responses={200: "fleet:FleetDeployment", 404: None}, tag="fleet"),
    Route("POST", "/admin/deployments/{deployment_id}/terminate", "admin", "fleet:terminate_fleet_deployment",
          "Delete it whoever owns it; ?purge=true also removes the record once the endpoint is verified gone",
          auth="admin", responses={202: "nodes:Termination", 404: None}, query=PURGE_QUERY, tag="fleet"),
    Route("GET", "/admin/deployments/{deployment_id}/logs", "admin", "fleet:fleet_deployment_logs",
          "Its logs as JSON (?tail=, ?since=, ?workers=true)", auth="admin",
          responses={200: "deployments:LogsResponse", 404: None}, query=TAIL_QUERY, tag="fleet"),
    Route("GET", "/admin/deployments/{deployment_id}/logs/stream", "admin", "fleet:stream_fleet_deployment_logs",
          _STREAM, auth="admin", responses={200: None, 404: None}, query=STREAM_QUERY, tag="fleet"),
    Route("POST", "/admin/nodes/launch", "admin", "fleet:launch_node",
          "Seed 004: launch a GPU node (a deployment) with the operator's Runpod key or a tenant's credential",
          auth="admin", request="nodes:NodeLaunch", responses={202: "nodes:Node", 422: None}, tag="fleet"),
    Route("GET", "/admin/nodes", "admin", "fleet:list_nodes", "Seed 004: every node (the fleet as nodes)",
          auth="admin", responses={200: "nodes:NodeList"}, query=FLEET_QUERY, tag="fleet"),
    Route("GET", "/admin/nodes/{node_id}", "admin", "fleet:get_node", "Seed 004: one node", auth="admin",
          responses=_NODE, tag="fleet"),
    Route("POST", "/admin/nodes/{node_id}/terminate", "admin", "fleet:terminate_node",
          "Seed 004: terminate a node (?purge=true: and remove its record once the endpoint is verified gone)",
          auth="admin", responses={200: "nodes:Termination", 404: None}, query=PURGE_QUERY, tag="fleet"),
    Route("GET", "/admin/nodes/{node_id}/logs", "admin", "fleet:node_logs", "Seed 004: a node's logs (?tail=)",
          auth="admin", responses={200: "deployments:LogsResponse", 404: None}, query=TAIL_QUERY, tag="fleet"),
    Route("GET", "/admin/nodes/{node_id}/logs/stream", "admin", "fleet:stream_node_logs",
          f"Seed 004: {_STREAM}; done is {{status, endpoint, message}}", auth="admin",
          responses={200: None, 404: None}, query=STREAM_QUERY, tag="fleet"),
    Route("POST", "/v1/instances", "create_deployment", "instances:launch_instance",
          "Seed 004: launch your own vLLM instance (a deployment) with your stored credential",
          request="nodes:InstanceLaunch", responses={202: "nodes:Node", 422: None}, tag="instances",
          feature="instances"),
    Route("GET", "/v1/instances", "list_deployments", "instances:list_instances", "Seed 004: your instances",
          responses={200: "nodes:NodeList"}, query={"status": {"type": "string"}, "model": {"type": "string"},
                                                    **PAGE_QUERY}, tag="instances", feature="instances"),
    Route("GET", "/v1/instances/{instance_id}", "get_deployment", "instances:get_instance",
          "Seed 004: one of your instances", responses=_NODE, tag="instances", feature="instances"),
    Route("DELETE", "/v1/instances/{instance_id}", "delete_deployment", "instances:terminate_instance",
          "Seed 004: terminate your instance", responses={200: "nodes:Termination", 404: None}, tag="instances",
          feature="instances"),
    Route("GET", "/v1/instances/{instance_id}/logs", "get_deployment", "instances:instance_logs",
          "Seed 004: your instance's logs (?tail=)", responses={200: "deployments:LogsResponse", 404: None},
          query=TAIL_QUERY, tag="instances", feature="instances"),
    Route("GET", "/v1/instances/{instance_id}/logs/stream", "stream_logs", "instances:stream_instance_logs",
          f"Seed 004: {_STREAM}", responses={200: None, 404: None}, query=STREAM_QUERY, tag="instances",
          feature="log_streams"),
]  # fmt: skip
