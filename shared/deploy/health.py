"""GET /v1/deployments/{id}/health: seed 001's aggregated health, from the record and Runpod's runtime."""

from __future__ import annotations

from typing import Any

from shared.accounts.credentials import deployment_runpod
from shared.clients.runpod import RunpodError
from shared.platform.errors import BadRequestError
from shared.schemas.states import GONE, PROVISIONING, Status
from shared.schemas.stored import Deployment
from shared.services import Services

WORKER_STATES = ("idle", "ready", "running", "initializing", "throttled", "unhealthy")


def health(svc: Services, dep: Deployment) -> dict[str, Any]:
    """Healthy, Progressing, Initializing, Degraded, Unhealthy, Unknown, SCALED_DOWN or Missing, with
    messages and worker counts from Runpod's runtime."""
    if dep.status in GONE:
        raise BadRequestError(f"Deployment {dep.deployment_id} is {dep.status.value}", {"status": dep.status.value})
    if dep.status == Status.PAUSED:
        return _health("SCALED_DOWN", "Deployment is paused. Resume to start inferencing.", "info")
    if dep.status == Status.FAILED:
        reason = dep.error.message if dep.error else "the deployment failed"
        return _health("Unhealthy", f"Deployment failed: {reason}", "error")
    if dep.status in PROVISIONING and not dep.runpod_endpoint_id:
        return _health("Initializing", f"Being created ({dep.status.value.replace('_', ' ')}).", "info")
    try:
        with deployment_runpod(svc, dep) as client:
            runtime = client.endpoint_health(dep.runpod_endpoint_id or "")
            listed = client.list_workers(dep.runpod_endpoint_id or "")
    except RunpodError as exc:
        if exc.kind == "not_found":
            return _health("Missing", "The Runpod endpoint no longer exists.", "error")
        return _health("Unknown", f"Runpod did not report health: {exc.message}", "warning")
    workers = worker_counts(runtime, listed)
    return _aggregate(dep, workers)


def worker_counts(runtime: dict[str, Any], listed: dict[str, Any]) -> dict[str, int]:
    counts = {k: int((runtime.get("workers") or {}).get(k) or 0) for k in WORKER_STATES}
    summary = listed.get("summary") or {}
    for key in ("idle", "running", "initializing", "throttled", "unhealthy"):
        counts[key] = max(counts[key], int(summary.get(key) or 0))
    # Runpod's "ready" may or may not overlap idle and running: never count a worker twice.
    counts["ready"] = max(counts["ready"], counts["idle"] + counts["running"])
    counts["not_ready"] = counts["initializing"] + counts["throttled"] + counts["unhealthy"]
    return counts


def _aggregate(dep: Deployment, w: dict[str, int]) -> dict[str, Any]:
    ready, unhealthy = w["ready"], w["unhealthy"]
    if dep.status in PROVISIONING:
        state, msg = ("Progressing", f"Starting: {dep.status.value.replace('_', ' ')}.")
        if w["throttled"] and not ready:  # a capacity wait (re-placement may widen the pools), not a crash
            msg = f"Starting: waiting for GPU capacity ({w['throttled']} worker(s) throttled)."
        if unhealthy and not ready:
            state, msg = "Unhealthy", f"{unhealthy} worker(s) failing health checks (crash-looping)."
        return _health(state, msg, "warning" if state == "Unhealthy" else "info", w)
    if ready and not unhealthy:
        return _health("Healthy", "Ready to use, the model is running and available for inference.", "info", w)
    if ready and unhealthy:
        return _health("Degraded", f"{ready} worker(s) ready, {unhealthy} unhealthy.", "warning", w)
    if unhealthy:
        return _health("Unhealthy", f"{unhealthy} worker(s) failing health checks (crash-looping).", "error", w)
    if w["initializing"] or w["throttled"]:
        why = "waiting for GPU capacity" if w["throttled"] else "a worker is starting"
        return _health("Progressing", f"Scaling up: {why}.", "info", w)
    if dep.min_replicas == 0:
        return _health("SCALED_DOWN", "Scaled to zero; the next request starts a worker.", "info", w)
    return _health("Unknown", "No workers reported although min_replicas > 0.", "warning", w)


def _health(state: str, message: str, severity: str, workers: dict[str, int] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"data": state, "messages": [{"message": message, "severity": severity}]}
    if workers is not None:
        body["workers"] = workers
    return body
