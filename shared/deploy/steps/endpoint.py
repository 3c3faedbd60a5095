"""create_endpoint and wait_ready: one Runpod endpoint per deployment, then its first worker up."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from shared.accounts.credentials import deployment_runpod
from shared.clients.runpod import RunpodError
from shared.deploy import model_cache, records
from shared.deploy.commit import Move
from shared.deploy.step_context import StepContext
from shared.deploy.steps import replacement
from shared.deploy.steps.sizing import OPERATOR_HF
from shared.deploy.worker_secret import callback_path, worker_secret
from shared.sandbox.keys import SCENARIO_ENV
from shared.schemas.states import GONE, Status
from shared.schemas.stored import Deployment
from shared.services import Services

if TYPE_CHECKING:  # the client module brings httpx: kept off the cold path of functions that only read
    from shared.clients.runpod import RunpodClient

UNHEALTHY_POLLS_TO_FAIL = 3


def endpoint_body(svc: Services, dep: Deployment) -> dict[str, Any]:
    """The endpoint for `dep` (a new deployment, or a green generation's candidate: its callbacks say so)."""
    s = svc.settings
    env = {
        **dep.extra_env,
        **dep.worker.get("env", {}),
        "DEPLOYMENT_ID": dep.deployment_id,
        "ORCHESTRATOR_INSTALL_ID": s.install_id or "",
        "HF_MODEL_ID": dep.model_id,
        "ORCHESTRATOR_CALLBACK_URL": f"{s.base_url}{callback_path(dep.deployment_id, dep.generation)}",
        "ORCHESTRATOR_CALLBACK_SECRET": worker_secret(s, dep.deployment_id, dep.generation),
    }
    if dep.sandbox:
        env[SCENARIO_ENV] = dep.sandbox_scenario or "ok"  # what the simulated worker is to do
    if dep.model_facts.get("hf_token"):
        env["HF_TOKEN"] = svc.cipher.decrypt(dep.model_facts["hf_token"], context=dep.deployment_id)
    elif dep.model_facts.get("hf_token_source") == OPERATOR_HF and s.hf_token:  # an admin launch (gated weights)
        env["HF_TOKEN"] = s.hf_token.get_secret_value()
    if (dep.worker.get("kind") == "inference-container" or dep.revision) and dep.model_facts.get("sha"):
        env["MODEL_REVISION"] = dep.model_facts["sha"]  # the commit that was validated and sized (vLLM reads it too)
    weights = float(dep.model_facts.get("weights_gb") or 10)
    body: dict[str, Any] = {
        "name": dep.endpoint_name,
        "type": "QUEUE",
        "image": dep.worker.get("image") or s.runpod_worker_image,
        "env": env,
        "disk": max(20, math.ceil(weights * 1.5) + 10),
        "gpu": replacement.gpu_block(dep, dep.gpu_pools),
        # One worker must really start for the model to load; finalize applies the serving scale.
        "workers": {"min": 1, "max": max(1, dep.max_replicas), "idleTimeout": dep.idle_timeout_seconds},
        "scaling": {"type": "QUEUE_DELAY", "queueDelay": 4},
        "flashboot": "FLASHBOOT",
        "timeout": 600000,
    }
    if dep.data_center_ids:
        body["dataCenterIds"] = dep.data_center_ids
    if dep.network_volume is not None:
        env["HF_HOME"] = model_cache.HF_HOME
        body.update(model_cache.endpoint_fields(dep.network_volume))
    return body


def create_endpoint(ctx: StepContext) -> None:
    with deployment_runpod(ctx.svc, ctx.dep) as client:
        if (
            ctx.dep.model_cache == "network_volume"
            and ctx.dep.network_volume is None
            and not ctx.dep.runpod_endpoint_id
        ):
            volume = model_cache.provision(ctx.svc, client, ctx.dep)

            def attach(d: Deployment) -> None:
                d.network_volume = volume

            if not ctx.save(attach):
                return  # our claim is gone; whoever holds it finds the volume by name
            reuse = "created" if volume.created else "reused"
            ctx.log(
                "INFO", f"Model cache: network volume {volume.id} {reuse} in {volume.data_center}; workers pinned there"
            )
        endpoint_id, how = find_or_create(ctx.svc, client, ctx.dep)
        url = client.runtime_url(endpoint_id, "run")

        def record(d: Deployment) -> None:
            d.runpod_endpoint_id = endpoint_id
            d.endpoint_url = url
            d.endpoint_created_at = d.endpoint_created_at or ctx.svc.now()
            d.gpu_allocated = d.gpu_pools[0] if d.gpu_pools else None

        if not ctx.save(record):
            # Our claim is gone. If the deployment was deleted or failed meanwhile, this endpoint must not
            # outlive it; if another delivery of this step took over, it adopts the endpoint by name.
            now = records.load(ctx.svc, ctx.dep.deployment_id)
            if now is None or now.status in GONE or now.status == Status.FAILED:
                discard(client, endpoint_id)
            return
    if ctx.dep.worker_reported_ready_at is not None:
        # The worker said `ready` before we knew its endpoint (our create's answer was lost).
        ctx.mark_ready(f"reported by the worker before endpoint {endpoint_id} was recorded")
        return
    # If the worker's callbacks already moved the deployment on (loading_model), the engine keeps that
    # status and still schedules wait_ready.
    ctx.advance(
        Move(
            next_step="wait_ready",
            status=Status.DOWNLOADING_MODEL,
            delay=poll_interval(ctx),
            message=("INFO", f"Runpod endpoint {endpoint_id} {how}; the worker is starting and downloading the model"),
        )
    )


def find_or_create(svc: Services, client: RunpodClient, dep: Deployment) -> tuple[str, str]:
    """`dep`'s endpoint: the recorded one, one an earlier attempt made (by name), or a new one."""
    if dep.runpod_endpoint_id:
        return dep.runpod_endpoint_id, "already recorded"
    # A create whose answer was lost left an endpoint with our name: adopt it, never make a second.
    mine = [e for e in client.list_endpoints() if e.get("name") == dep.endpoint_name]
    if mine:
        mine.sort(key=lambda e: e.get("createdAt") or "")
        for extra in mine[1:]:
            discard(client, extra["id"])
        return mine[0]["id"], "adopted (created by an earlier attempt)"
    created = client.create_endpoint(endpoint_body(svc, dep))
    return created["id"], "created"


def discard(client: RunpodClient, endpoint_id: str) -> None:
    try:
        client.delete_endpoint(endpoint_id)
    except RunpodError:
        pass  # the cleanup step and the reconciler find it by name


class Probe(NamedTuple):
    """What an endpoint's health says about its first worker."""

    state: Literal["up", "unhealthy", "starting", "unreachable"]
    note: str
    unhealthy_polls: int  # consecutive polls that saw only unhealthy workers, this one included
    unhealthy: int = 0
    throttled: int = 0  # waiting for a GPU (re-placement widens the pools after PLACEMENT_TIMEOUT_SECONDS)
    initializing: int = 0


def probe(svc: Services, dep: Deployment, endpoint_id: str, unhealthy_polls: int) -> Probe:
    """Read the endpoint's health; a permanent Runpod refusal is raised, a transient one is `unreachable`."""
    with deployment_runpod(svc, dep) as client:
        try:
            health = client.endpoint_health(endpoint_id)
        except RunpodError as exc:
            if not exc.transient:
                raise
            return Probe("unreachable", f"health check failed ({exc.message})", unhealthy_polls)
    workers = health.get("workers") or {}
    unhealthy = int(workers.get("unhealthy") or 0)
    if sum(int(workers.get(k) or 0) for k in ("idle", "ready", "running")) > 0:
        return Probe("up", "a worker is up (health check)", 0)
    if unhealthy > 0:
        return Probe("unhealthy", f"{unhealthy} worker(s) unhealthy", unhealthy_polls + 1, unhealthy)
    throttled, initializing = int(workers.get("throttled") or 0), int(workers.get("initializing") or 0)
    waiting = "waiting for GPU capacity" if throttled else "worker starting"
    return Probe("starting", waiting, 0, 0, throttled, initializing)


def crash_looping(ctx: StepContext, seen: Probe) -> bool:
    """Fail what this step brings up once the workers were unhealthy poll after poll."""
    if seen.state != "unhealthy" or seen.unhealthy_polls < UNHEALTHY_POLLS_TO_FAIL:
        return False
    ctx.fail(
        "worker_unhealthy",
        f"Runpod reports {seen.unhealthy} UNHEALTHY worker(s): the worker is crash-looping (not a capacity "
        "problem); check the model and image",
    )
    return True


def wait_ready(ctx: StepContext) -> None:
    dep = ctx.dep
    seen = probe(ctx.svc, dep, dep.runpod_endpoint_id or "", int(dep.worker.get("unhealthy_polls", 0)))
    if seen.state == "up":
        ctx.mark_ready(seen.note)  # superseded (e.g. deleted): run_step frees the lease
        return
    if crash_looping(ctx, seen):
        return
    if seen.state == "starting":
        replacement.consider(ctx, seen)  # capacity, not a crash: widen the pools once the timeout passed
    # Polling is this step's retry, bounded by the deployment's deadline: poll again.
    _poll_again(ctx, seen.note, unhealthy_polls=None if seen.state == "unreachable" else seen.unhealthy_polls)


def poll_interval(ctx: StepContext) -> float:
    """A simulated endpoint is polled at the sandbox's pace (its workers take seconds, not minutes)."""
    s = ctx.settings
    return (
        min(s.ready_poll_interval_seconds, s.sandbox_poll_interval_seconds)
        if ctx.dep.sandbox
        else s.ready_poll_interval_seconds
    )


def _poll_again(ctx: StepContext, note: str, unhealthy_polls: int | None = None) -> None:
    def apply(d: Deployment) -> None:
        if unhealthy_polls is not None:
            d.worker = {**d.worker, "unhealthy_polls": unhealthy_polls}
        d.worker_message = d.worker_message or note

    ctx.advance(
        Move(
            next_step="wait_ready",
            delay=poll_interval(ctx),
            apply=apply,
            outcome="waiting",
        )
    )
