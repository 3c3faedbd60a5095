"""The route table: the one list that dispatch, /openapi.json and the API gateway are built from."""

from __future__ import annotations

from functions import deployments, health, internal, lifecycle, openapi
from functions.inference_routes import INFERENCE_ROUTES
from functions.routing import Route, Router
from shared.models import (
    CreateDeploymentRequest,
    CreateDeploymentResponse,
    DeploymentHealth,
    DeploymentList,
    DeploymentResponse,
    HealthResponse,
    LifecycleResponse,
    LogsResponse,
    ScaleRequest,
    ScaleResponse,
    ServiceInfo,
    StepTask,
    WorkerLogReport,
    WorkerReport,
    WorkerReportResponse,
)

ROUTES = [
    Route("GET", "/", "health", health.root, "Service information", auth="none", responses={200: ServiceInfo},
          tag="service"),
    Route("GET", "/health", "health", health.health, "Liveness", auth="none", responses={200: HealthResponse},
          tag="service"),
    Route("GET", "/readiness", "health", health.readiness, "Readiness: the store is reachable", auth="none",
          responses={200: HealthResponse, 503: None}, tag="service"),
    Route("GET", "/openapi.json", "health", openapi.openapi_json, "This API's OpenAPI document", auth="none",
          tag="service", public=False),
    Route("GET", "/docs", "health", openapi.docs, "Interactive API documentation", auth="none", tag="service",
          public=False),
    Route("GET", "/docs/static/{filename}", "health", openapi.docs_static, "Documentation assets", auth="none",
          tag="service", public=False),
    Route("POST", "/v1/deployments", "create_deployment", deployments.create_deployment, "Deploy a model",
          request=CreateDeploymentRequest, responses={202: CreateDeploymentResponse}),
    Route("GET", "/v1/deployments", "list_deployments", lifecycle.list_deployments,
          "Your deployments, newest first (?status=, ?model_id=, ?limit=, ?cursor=)", responses={200: DeploymentList}),
    Route("GET", "/v1/deployments/{deployment_id}", "get_deployment", deployments.get_deployment,
          "A deployment's status, logs and error", responses={200: DeploymentResponse, 404: None}),
    Route("GET", "/v1/deployments/{deployment_id}/health", "get_deployment", lifecycle.deployment_health,
          "Aggregated health with worker counts", responses={200: DeploymentHealth, 400: None, 404: None}),
    Route("GET", "/v1/deployments/{deployment_id}/logs", "get_deployment", lifecycle.deployment_logs,
          "Logs as JSON (?tail=, ?since=, ?workers=true for Runpod worker output)", responses={200: LogsResponse}),
    Route("GET", "/v1/deployments/{deployment_id}/logs/stream", "stream_logs", lifecycle.stream_deployment_logs,
          "Live logs as Server-Sent Events: log, status and done (?follow=true; Last-Event-ID resumes)",
          responses={200: None}),
    Route("POST", "/v1/deployments/{deployment_id}/scale", "manage_deployment", lifecycle.scale_deployment,
          "Set min_replicas and max_replicas", request=ScaleRequest, responses={200: ScaleResponse, 400: None}),
    Route("POST", "/v1/deployments/{deployment_id}/stop", "manage_deployment", lifecycle.stop_deployment,
          "Pause: workers 0/0, endpoint kept", responses={200: LifecycleResponse, 409: None}),
    Route("POST", "/v1/deployments/{deployment_id}/start", "manage_deployment", lifecycle.start_deployment,
          "Resume with the previous scaling", responses={200: LifecycleResponse, 409: None}),
    Route("DELETE", "/v1/deployments/{deployment_id}", "delete_deployment", deployments.delete_deployment,
          "Delete a deployment and its Runpod endpoint", responses={204: None, 404: None}),
    Route("POST", "/internal/deployment-ready/{deployment_id}", "deployment_ready", internal.deployment_ready,
          "The inference container reports progress", auth="worker_secret", request=WorkerReport,
          responses={200: WorkerReportResponse}, tag="internal"),
    Route("POST", "/internal/deployment-logs/{deployment_id}", "deployment_ready", internal.deployment_log,
          "The inference container reports a log line", auth="worker_secret", request=WorkerLogReport,
          responses={200: None}, tag="internal"),
    Route("POST", "/internal/reconcile", "reconcile", internal.reconcile,
          "Fail stuck deployments, finish cleanups, delete leaked endpoints (Cloud Scheduler target)",
          auth="task", responses={200: None}, tag="internal", public=False),
    Route("POST", "/internal/steps", "run_step", internal.run_step, "Run one deployment step (Cloud Tasks target)",
          auth="task", request=StepTask, responses={200: None, 503: None}, tag="internal", public=False),
]  # fmt: skip

ROUTES += INFERENCE_ROUTES

ROUTER = Router(ROUTES)
