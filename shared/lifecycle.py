"""After create: list, health, scale, pause and resume (seed 001's lifecycle, on Runpod)."""

from __future__ import annotations

import base64
import json
from typing import Any

from shared import repo
from shared.credentials import deployment_runpod
from shared.errors import BadRequestError, ConflictError, ServiceUnavailableError, ValidationError
from shared.models import Deployment
from shared.runpod import RunpodError
from shared.services import Services
from shared.states import GONE, PROVISIONING, SERVING, Status, can_move
from shared.store import Query, Where, valid_doc_id

MAX_PAGE = 100


# ---- list ---------------------------------------------------------------------------------------


def encode_cursor(dep: Deployment) -> str:
    raw = json.dumps([dep.model_dump(mode="json")["created_at"], dep.deployment_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, str]:
    """The (created_at, deployment id) a cursor holds; anything else (null, a number, text that is not
    valid Unicode) is a 422, never a query."""
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(value, list) or len(value) != 2:
            raise ValueError
        created_at, dep_id = value
        if not isinstance(created_at, str) or not isinstance(dep_id, str):
            raise ValueError
        if not valid_doc_id(dep_id):  # also refuses lone surrogates: they cannot reach the store
            raise ValueError
        created_at.encode("utf-8")
        return created_at, dep_id
    except (ValueError, TypeError, RecursionError):
        raise ValidationError("cursor is not one this API returned", {"field": "cursor"}) from None


def list_deployments(
    svc: Services, owner: str, status: str | None, model_id: str | None, limit: int, cursor: str | None
) -> tuple[list[Deployment], str | None]:
    """The owner's deployments, newest first; keyset pagination, so concurrent creates never shift pages."""
    if status is not None and status not in {s.value for s in Status}:
        raise ValidationError(f"unknown status {status!r}", {"field": "status", "allowed": [s.value for s in Status]})
    where = [Where("owner", "==", owner)]
    if status:
        where.append(Where("status", "==", status))
    if model_id:
        where.append(Where("model_id", "==", model_id))
    after = decode_cursor(cursor) if cursor else None
    rows = svc.store.query(
        Query(
            repo.DEPLOYMENTS,
            where=tuple(where),
            order_by=(("created_at", "desc"),),
            limit=limit + 1,
            start_after=(after[0],) if after else None,
            start_after_id=after[1] if after else None,
        )
    )
    deps = [Deployment.model_validate(doc) for _, doc in rows]
    more = len(deps) > limit
    deps = deps[:limit]
    return deps, (encode_cursor(deps[-1]) if more and deps else None)


# ---- health -------------------------------------------------------------------------------------


def health(svc: Services, dep: Deployment) -> dict[str, Any]:
    """Seed 001's aggregated health: Healthy, Progressing, Initializing, Degraded, Unhealthy, Unknown,
    SCALED_DOWN or Missing, with messages and worker counts from Runpod's runtime."""
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
    workers = _worker_counts(runtime, listed)
    return _aggregate(dep, workers)


def _worker_counts(runtime: dict, listed: dict) -> dict[str, int]:
    counts = {k: int((runtime.get("workers") or {}).get(k) or 0) for k in
              ("idle", "ready", "running", "initializing", "throttled", "unhealthy")}  # fmt: skip
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


# ---- scale, stop, start -------------------------------------------------------------------------


def _patch_workers(svc: Services, dep: Deployment, min_replicas: int, max_replicas: int) -> None:
    try:
        with deployment_runpod(svc, dep) as client:
            client.update_endpoint(
                dep.runpod_endpoint_id or "", {"workers": {"min": min_replicas, "max": max_replicas}}
            )
    except RunpodError as exc:
        if exc.kind == "quota":
            raise BadRequestError(
                f"Insufficient GPU quota for requested replicas: {exc.message}",
                {"min_replicas": min_replicas, "max_replicas": max_replicas},
            ) from None
        if exc.transient:
            raise ServiceUnavailableError(
                f"Runpod is unavailable; retry shortly ({exc.message})", headers={"Retry-After": "5"}
            ) from None
        if exc.kind == "not_found":
            raise ConflictError("The Runpod endpoint no longer exists") from None
        raise BadRequestError(exc.message, {"runpod": exc.kind}) from None


def _require_active(dep: Deployment) -> None:
    if dep.status in GONE or dep.status == Status.FAILED:
        raise ConflictError(
            f"No active deployment: {dep.deployment_id} is {dep.status.value}", {"status": dep.status.value}
        )


def scale(svc: Services, dep: Deployment, min_replicas: int, max_replicas: int) -> Deployment:
    """Set the autoscaling bounds; applied to Runpod now when serving, at finalize or start otherwise."""
    _require_active(dep)
    if dep.status in SERVING and dep.runpod_endpoint_id and dep.step != "finalize":
        _patch_workers(svc, dep, min_replicas, max_replicas)

    def change(d: Deployment) -> Deployment | None:
        if d.status in GONE or d.status == Status.FAILED:
            return None
        d.min_replicas, d.max_replicas = min_replicas, max_replicas
        return d

    after, changed = repo.mutate(svc, dep.deployment_id, change)
    if not changed or after is None:
        _require_active(after or dep)
        raise ConflictError("The deployment changed meanwhile; retry")
    repo.log(svc, dep.deployment_id, "INFO", f"Scaling set to min {min_replicas}, max {max_replicas}", at=after)
    return after


def stop(svc: Services, dep: Deployment) -> str:
    """Pause: workers 0/0, endpoint and URL kept, scaling remembered for start."""
    _require_active(dep)
    if dep.status == Status.PAUSED:
        return "already_stopped"
    if dep.status not in SERVING:
        raise ConflictError(
            f"Only a ready deployment can be stopped; this one is {dep.status.value}", {"status": dep.status.value}
        )
    if dep.step == "finalize":
        # finalize is about to apply the serving scale; pausing under it could be undone by it.
        raise ConflictError(
            "The deployment is finishing its setup; retry in a few seconds", headers={"Retry-After": "2"}
        )
    _patch_workers(svc, dep, 0, 0)
    _move(svc, dep, Status.PAUSED, "Paused: workers scaled to 0/0; the endpoint and its URL are kept")
    return "stopped"


def start(svc: Services, dep: Deployment) -> str:
    _require_active(dep)
    if dep.status in SERVING:
        return "already_started"
    if dep.status != Status.PAUSED:
        raise ConflictError(
            f"Only a paused deployment can be started; this one is {dep.status.value}", {"status": dep.status.value}
        )
    _patch_workers(svc, dep, dep.min_replicas, dep.max_replicas)
    _move(svc, dep, Status.READY, f"Resumed: scaling restored to min {dep.min_replicas}, max {dep.max_replicas}")
    return "started"


def _move(svc: Services, dep: Deployment, target: Status, message: str) -> None:
    def change(d: Deployment) -> Deployment | None:
        if not can_move(d.status, target):
            return None
        d.status = target
        d.paused_at = svc.now() if target == Status.PAUSED else None
        return d

    after, changed = repo.mutate(svc, dep.deployment_id, change)
    if not changed:
        current = after.status.value if after else "gone"
        raise ConflictError(f"The deployment changed meanwhile (now {current})", {"status": current})
    repo.log(svc, dep.deployment_id, "INFO", message, at=after)
