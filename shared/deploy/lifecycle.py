"""After create: list, health, scale, pause and resume (seed 001's lifecycle, on Runpod)."""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Callable
from typing import Any

from shared.accounts.credentials import deployment_runpod
from shared.clients.runpod import RunpodError, runpod_code
from shared.deploy import records
from shared.deploy.states import GONE, PROVISIONING, SERVING, Status, can_move
from shared.platform.clock import later
from shared.platform.crypto import CryptoError
from shared.platform.errors import BadRequestError, ConflictError, ServiceUnavailableError, ValidationError
from shared.platform.faults import Fault
from shared.schemas.stored import Deployment
from shared.services import Services
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
            records.DEPLOYMENTS,
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


# ---- scale, stop, start: desired state, and the one path that applies it to Runpod ------------
#
# The deployment record holds the desired workers: `status` paused (0/0) or serving (`min_replicas`,
# `max_replicas`). An API call changes the desired state atomically and bumps `scaling.gen`; then one
# applier at a time (the `scaling` lease) reads the CURRENT desired state, PATCHes Runpod and commits
# `applied_gen`, passing again while the desired state moved meanwhile. Callers wait for their
# generation, so they answer once Runpod matches, and the last accepted request wins in both places.
# finalize and the reconciler's drift check use the same path.

WAIT_POLL_SECONDS = 0.05
MAX_PASSES = 8


class ScalingFailed(Fault):
    """Runpod did not take the desired workers (kind as in RunpodError; `saved`: kept and retried later)."""

    def __init__(self, kind: str, message: str, transient: bool):
        super().__init__(runpod_code(kind), message, transient=transient)
        self.kind = kind


def target_workers(d: Deployment) -> dict[str, int] | None:
    """What Runpod's workers must be now; None while nothing is to be applied (provisioning, gone)."""
    if not d.runpod_endpoint_id or d.status in GONE or d.status in PROVISIONING or d.status == Status.FAILED:
        return None
    if d.status == Status.PAUSED:
        return {"min": 0, "max": 0}
    return {"min": d.min_replicas, "max": d.max_replicas}


def _snapshot(d: Deployment) -> dict[str, Any]:
    return {"status": d.status.value, "min": d.min_replicas, "max": d.max_replicas, "reason": d.paused_reason}


def _restore(svc: Services, d: Deployment, snap: dict[str, Any]) -> None:
    status = Status(snap["status"])
    if status != d.status and can_move(d.status, status):
        d.status = status
        d.paused_at = svc.now() if status == Status.PAUSED else None
    d.min_replicas, d.max_replicas, d.paused_reason = snap["min"], snap["max"], snap["reason"]


def desire(
    svc: Services, deployment_id: str, change: Callable[[Deployment], bool], undoable: bool = True
) -> tuple[Deployment | None, bool]:
    """Change the desired workers atomically; `change` returns False to leave the deployment as it is.

    An undoable change (a user's) is reverted when Runpod refuses it (e.g. quota), unless a newer came.
    """

    def apply(d: Deployment) -> Deployment | None:
        before = _snapshot(d)
        if not change(d):
            return None
        d.scaling.before = before if undoable else None
        d.scaling.gen += 1
        return d

    return records.mutate(svc, deployment_id, apply)


def converge(svc: Services, deployment_id: str, gen: int, wait_seconds: float | None = None) -> Deployment:
    """Return once Runpod was set from generation `gen` or a later one; raise ScalingFailed for `gen`.

    Applies it itself when no one else is applying; otherwise waits for the applier (which passes
    again for every newer generation), taking over if its lease ends.
    """
    wait = wait_seconds if wait_seconds is not None else svc.settings.http_timeout_seconds * 3 + 1
    deadline = time.monotonic() + wait
    while True:
        d = records.load(svc, deployment_id)
        if d is None:
            raise ScalingFailed("not_found", "the deployment no longer exists", transient=False)
        err = d.scaling.error
        pending = d.scaling.applied_gen < gen
        if err and (err.get("gen") == gen or (pending and err.get("transient") and err.get("gen", 0) > gen)):
            raise ScalingFailed(err["kind"], err["message"], bool(err.get("transient")))
        if d.scaling.applied_gen >= gen or target_workers(d) is None:
            return d
        if time.monotonic() > deadline:
            raise ScalingFailed("unavailable", "Runpod has not confirmed the change yet", transient=True)
        busy = d.scaling.lease_until is not None and d.scaling.lease_until > svc.now()
        lease = None if busy else _take_lease(svc, deployment_id)
        if lease is None:
            time.sleep(WAIT_POLL_SECONDS)
            continue
        try:
            _apply(svc, deployment_id, lease)
        finally:
            _release(svc, deployment_id, lease)


def _take_lease(svc: Services, deployment_id: str) -> str | None:
    lease, now = secrets.token_hex(8), svc.now()

    def claim(d: Deployment) -> Deployment | None:
        held = d.scaling.lease_id and d.scaling.lease_until and d.scaling.lease_until > now
        if held or target_workers(d) is None or d.scaling.applied_gen >= d.scaling.gen:
            return None
        d.scaling.lease_id, d.scaling.lease_until = lease, later(now, svc.settings.step_lease_seconds)
        d.scaling.error = None
        return d

    _, ok = records.mutate(svc, deployment_id, claim)
    return lease if ok else None


def _release(svc: Services, deployment_id: str, lease: str) -> None:
    def free(d: Deployment) -> Deployment | None:
        if d.scaling.lease_id != lease:
            return None
        d.scaling.lease_id = d.scaling.lease_until = None
        return d

    records.mutate(svc, deployment_id, free)


def _apply(svc: Services, deployment_id: str, lease: str) -> None:
    """Under the lease: PATCH Runpod from the current desired state until it stops moving."""
    for _ in range(MAX_PASSES):
        d = records.load(svc, deployment_id)
        if d is None or d.scaling.lease_id != lease:
            return
        target, gen = target_workers(d), d.scaling.gen
        if target is None or d.scaling.applied_gen >= gen:
            return
        try:
            with deployment_runpod(svc, d) as client:
                client.update_endpoint(d.runpod_endpoint_id or "", {"workers": target})
        except RunpodError as exc:
            _failed(svc, deployment_id, lease, gen, exc.kind, exc.message, exc.transient)
            return
        except CryptoError:
            _failed(svc, deployment_id, lease, gen, "unauthorized", "the stored Runpod key cannot be read", False)
            return

        def commit(x: Deployment, target: dict[str, int] = target) -> Deployment | None:
            if x.scaling.lease_id != lease:
                return None
            x.scaling.applied = target
            if target_workers(x) == target:
                x.scaling.applied_gen = x.scaling.gen
            x.scaling.lease_until = later(svc.now(), svc.settings.step_lease_seconds)
            return x

        records.mutate(svc, deployment_id, commit)


def _failed(svc: Services, deployment_id: str, lease: str, gen: int, kind: str, message: str, transient: bool) -> None:
    """Record why `gen` was not applied; a refused (not transient) change is undone if nothing newer came."""

    def record(x: Deployment) -> Deployment | None:
        if x.scaling.lease_id != lease:
            return None
        x.scaling.error = {"gen": gen, "kind": kind, "message": message, "transient": transient}
        if not transient and x.scaling.gen == gen and x.scaling.before:
            _restore(svc, x, x.scaling.before)
            x.scaling.before = None
            if target_workers(x) == x.scaling.applied:
                x.scaling.applied_gen = gen
        return x

    after, _ = records.mutate(svc, deployment_id, record)
    verdict = "will be retried" if transient else "refused"
    records.log(
        svc, deployment_id, "WARNING", f"Runpod did not take the workers setting ({verdict}): {message}", at=after
    )


def _api_error(exc: ScalingFailed, min_replicas: int | None = None, max_replicas: int | None = None) -> Exception:
    if exc.kind == "quota":
        return BadRequestError(
            f"Insufficient GPU quota for requested replicas: {exc.message}",
            {"min_replicas": min_replicas, "max_replicas": max_replicas},
        )
    if exc.transient:
        return ServiceUnavailableError(
            f"Runpod is unavailable ({exc.message}); the change is saved and applied as soon as Runpod answers",
            {"saved": True},
            headers={"Retry-After": "5"},
        )
    if exc.kind == "not_found":
        return ConflictError("The Runpod endpoint no longer exists")
    return BadRequestError(exc.message, {"runpod": exc.kind})


def _require_active(dep: Deployment) -> None:
    if dep.status in GONE or dep.status == Status.FAILED:
        raise ConflictError(
            f"No active deployment: {dep.deployment_id} is {dep.status.value}", {"status": dep.status.value}
        )


def scale(svc: Services, dep: Deployment, min_replicas: int, max_replicas: int) -> Deployment:
    """Set the autoscaling bounds: applied to Runpod now when serving, at finalize or start otherwise."""

    def change(d: Deployment) -> bool:
        _require_active(d)
        d.min_replicas, d.max_replicas = min_replicas, max_replicas
        return True

    after, _ = desire(svc, dep.deployment_id, change)
    if after is None:
        raise ConflictError("The deployment no longer exists")
    records.log(svc, dep.deployment_id, "INFO", f"Scaling set to min {min_replicas}, max {max_replicas}", at=after)
    try:
        return converge(svc, dep.deployment_id, after.scaling.gen)
    except ScalingFailed as exc:
        raise _api_error(exc, min_replicas, max_replicas) from None


def stop(svc: Services, dep: Deployment, reason: str = "user") -> str:
    """Pause: workers 0/0, endpoint and URL kept, scaling remembered for start."""

    def change(d: Deployment) -> bool:
        _require_active(d)
        if d.status == Status.PAUSED:
            return False
        if d.status not in SERVING:
            raise ConflictError(
                f"Only a ready deployment can be stopped; this one is {d.status.value}", {"status": d.status.value}
            )
        d.status, d.paused_at, d.paused_reason = Status.PAUSED, svc.now(), reason
        return True

    return _switch(svc, dep, change, "stopped", "Paused: workers scaled to 0/0; the endpoint and its URL are kept")


def start(svc: Services, dep: Deployment) -> str:
    def change(d: Deployment) -> bool:
        _require_active(d)
        if d.status in SERVING:
            return False
        if d.status != Status.PAUSED:
            raise ConflictError(
                f"Only a paused deployment can be started; this one is {d.status.value}", {"status": d.status.value}
            )
        d.status, d.paused_at, d.paused_reason = Status.READY, None, None
        return True

    return _switch(svc, dep, change, "started", "Resumed: the scaling before the pause is restored")


def _switch(svc: Services, dep: Deployment, change: Callable[[Deployment], bool], done: str, message: str) -> str:
    after, changed = desire(svc, dep.deployment_id, change)
    if after is None:
        raise ConflictError("The deployment no longer exists")
    if changed:
        records.log(svc, dep.deployment_id, "INFO", message, at=after)
    try:
        converge(svc, dep.deployment_id, after.scaling.gen)  # an earlier change may still be on its way
    except ScalingFailed as exc:
        raise _api_error(exc, after.min_replicas, after.max_replicas) from None
    return done if changed else f"already_{done}"


def settle_at_ready(svc: Services, deployment_id: str) -> Deployment | None:
    """finalize: pause if that was asked while provisioning, then set Runpod from the desired state.

    Raises ScalingFailed when Runpod does not take it (the reconciler's drift check retries later).
    """

    def change(d: Deployment) -> bool:
        if d.status not in SERVING and d.status != Status.PAUSED:
            return False
        if d.paused_reason and d.status in SERVING:
            d.status, d.paused_at = Status.PAUSED, svc.now()
        return True  # a new generation: Runpod still runs the provisioning worker

    after, changed = desire(svc, deployment_id, change, undoable=False)
    if after is None or not changed:
        return after
    return converge(svc, deployment_id, after.scaling.gen)


def correct_drift(svc: Services, dep: Deployment) -> bool:
    """The reconciler's check: Runpod's workers must match the desired state; re-apply when they do not."""
    target = target_workers(dep)
    if target is None or dep.step is not None or not dep.runpod_endpoint_id:
        return False
    if dep.scaling.lease_until and dep.scaling.lease_until > svc.now():
        return False  # being applied right now
    try:
        with deployment_runpod(svc, dep) as client:
            endpoint = client.get_endpoint(dep.runpod_endpoint_id)
    except (RunpodError, CryptoError):
        return False
    if endpoint is None:
        return False
    workers = endpoint.get("workers") or {}
    actual = {"min": workers.get("min"), "max": workers.get("max")}
    if actual == target and dep.scaling.applied_gen >= dep.scaling.gen:
        return False
    seen = dep.scaling.gen

    def change(d: Deployment) -> bool:
        return d.scaling.gen == seen and target_workers(d) == target

    after, changed = desire(svc, dep.deployment_id, change, undoable=False)
    if not changed or after is None:
        return False
    records.log(
        svc, dep.deployment_id, "WARNING",
        f"Reconciler: Runpod workers are {actual['min']}/{actual['max']}, desired {target['min']}/{target['max']}; "
        "re-applying", at=after,
    )  # fmt: skip
    try:
        converge(svc, dep.deployment_id, after.scaling.gen)
    except ScalingFailed:
        return False
    return True
