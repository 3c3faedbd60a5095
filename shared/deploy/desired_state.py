"""The desired workers of a deployment, and the one path that applies them to Runpod.

The deployment record holds the desired workers: `status` paused (0/0) or serving (`min_replicas`,
`max_replicas`). A change (scale, stop, start, a tenant's suspension, finalize) sets the desired state
atomically and bumps `scaling.gen` (`desire`); then one applier at a time (the `scaling` lease) reads the
CURRENT desired state, PATCHes Runpod and commits `applied_gen`, passing again while the desired state
moved meanwhile (`converge`). Callers wait for their generation, so they answer once Runpod matches, and
the last accepted request wins in both places. The reconciler's drift check uses the same path.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import Any

from shared.accounts.credentials import deployment_runpod
from shared.clients.runpod import RunpodError, runpod_code
from shared.deploy import records
from shared.platform.clock import later
from shared.platform.crypto import CryptoError
from shared.platform.faults import Fault
from shared.schemas.states import GONE, PROVISIONING, SERVING, Status, can_move
from shared.schemas.stored import Deployment
from shared.services import Services

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
