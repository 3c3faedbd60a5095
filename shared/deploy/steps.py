"""The deployment steps. Each runs as a task, claims the deployment, acts, then moves it on.

A `Fault` (Runpod, the Hub, GPU selection) that a step lets through is turned into a retry or a
failure by the step runner (`StepContext.handle_fault`); steps catch one only for their own
behaviour: wait_ready polls again, finalize and cleanup end their step instead of failing it.
"""

from __future__ import annotations

import math

from shared.accounts.credentials import deployment_runpod
from shared.catalog import gpu_pools, vram
from shared.catalog.worker_image import plan_worker
from shared.clients.hub import fetch_model_facts
from shared.clients.runpod import RunpodClient, RunpodError
from shared.deploy import desired_state, notify, records
from shared.deploy.engine import REGISTRY, Move, StepContext
from shared.deploy.states import GONE, Status
from shared.platform.crypto import CryptoError, callback_secret
from shared.schemas.stored import Deployment

ASSUMED_VRAM_GB = 16.0
UNHEALTHY_POLLS_TO_FAIL = 3


def _runpod(ctx: StepContext) -> RunpodClient:
    return deployment_runpod(ctx.svc, ctx.dep)


def _hf_token(ctx: StepContext) -> str | None:
    token = ctx.dep.model_facts.get("hf_token")
    if token:
        return ctx.svc.cipher.decrypt(token, context=ctx.dep.deployment_id)
    # The operator's token only with HF_TOKEN_FOR_TENANTS: else a tenant could probe what it can read.
    allowed = ctx.settings.hf_token and ctx.settings.hf_token_for_tenants
    return ctx.settings.hf_token.get_secret_value() if allowed else None


@REGISTRY.register("validate")
def validate(ctx: StepContext) -> None:
    dep = ctx.dep
    ctx.log("INFO", f"Validating Hugging Face model {dep.model_id}")
    facts = fetch_model_facts(ctx.settings.hf_endpoint, dep.model_id, _hf_token(ctx), ctx.settings.http_timeout_seconds)
    estimate = vram.estimate(facts)
    required = estimate.required_gb
    registered = dep.model_facts.get("registry_vram_gb")
    if registered:
        required = float(registered)
    elif estimate.weights_bytes == 0:
        required = ASSUMED_VRAM_GB
        ctx.log("WARNING", f"The Hub lists no weight sizes for {dep.model_id}; assuming {required:.0f} GB of VRAM")

    def apply(d: Deployment) -> None:
        d.model_vram_gb = vram.whole_gb(required)
        d.model_facts = {
            **d.model_facts,
            "library_name": facts.library_name,
            "pipeline_tag": facts.pipeline_tag,
            "sha": facts.sha,
            "gated": facts.gated,
            "weights_gb": round(estimate.weights_bytes / vram.GIB, 2),
            "required_vram_gb": round(required, 2),
            "max_model_len": estimate.max_model_len,
            "estimate": estimate.how,
        }

    ctx.advance(
        Move(
            next_step="select_gpu",
            status=Status.SELECTING_GPU,
            apply=apply,
            message=(
                "INFO",
                f"HF model validated: {facts.library_name or 'unknown library'}, "
                f"{facts.pipeline_tag or 'unknown task'}, needs about {required:.1f} GB VRAM",
            ),
        )
    )


@REGISTRY.register("select_gpu")
def select_gpu(ctx: StepContext) -> None:
    dep = ctx.dep
    required = float(dep.model_facts.get("required_vram_gb") or dep.model_vram_gb or ASSUMED_VRAM_GB)
    choice = gpu_pools.select(required, dep.gpu_tier, dep.gpu_count_requested)
    price, source = _catalog_price(ctx, choice.pools[0])
    plan = plan_worker(
        ctx.settings,
        dep.model_id,
        dep.model_facts.get("library_name"),
        dep.model_facts.get("pipeline_tag"),
        choice.gpu_count,
        dep.model_facts.get("max_model_len"),
    )
    first = gpu_pools.pool_by_id(choice.pools[0])

    def apply(d: Deployment) -> None:
        d.gpu_pools = choice.pools
        d.gpu_count = choice.gpu_count
        d.gpu_reason = choice.reason
        d.worker = {"image": plan.image, "kind": plan.kind, "env": plan.env, "reason": plan.reason}
        d.price_per_gpu_hour, d.price_source = price, source

    names = ", ".join(first.gpus) if first else choice.pools[0]
    ctx.advance(
        Move(
            next_step="create_endpoint",
            status=Status.CREATING_ENDPOINT,
            apply=apply,
            message=("INFO", f"Selected GPU: {choice.pools[0]} ({names}) x{choice.gpu_count}; {choice.reason}"),
        )
    )


def _catalog_price(ctx: StepContext, pool_id: str) -> tuple[float | None, str]:
    """Runpod's live serverless price for the pool when the catalog answers; the shipped table otherwise."""
    try:
        with _runpod(ctx) as client:
            for gpu in client.list_gpus():
                serverless = (gpu.get("price") or {}).get("serverless")
                if gpu.get("pool") == pool_id and serverless is not None:
                    return float(serverless), "runpod_catalog"
    except (RunpodError, CryptoError, ValueError, TypeError):
        pass
    pool = gpu_pools.pool_by_id(pool_id)
    return (pool.price_per_gpu_hour if pool else None), "shipped_table"


def endpoint_body(ctx: StepContext) -> dict:
    dep, s = ctx.dep, ctx.settings
    env = {
        **dep.extra_env,
        **dep.worker.get("env", {}),
        "DEPLOYMENT_ID": dep.deployment_id,
        "ORCHESTRATOR_INSTALL_ID": s.install_id or "",
        "HF_MODEL_ID": dep.model_id,
        "ORCHESTRATOR_CALLBACK_URL": f"{s.base_url}/internal/deployment-ready/{dep.deployment_id}",
        "ORCHESTRATOR_CALLBACK_SECRET": callback_secret(s.internal_secret.get_secret_value(), dep.deployment_id),
    }
    if dep.model_facts.get("hf_token"):
        env["HF_TOKEN"] = ctx.svc.cipher.decrypt(dep.model_facts["hf_token"], context=dep.deployment_id)
    if dep.worker.get("kind") == "inference-container" and dep.model_facts.get("sha"):
        env["MODEL_REVISION"] = dep.model_facts["sha"]  # the commit that was validated and sized
    weights = float(dep.model_facts.get("weights_gb") or 10)
    body = {
        "name": dep.endpoint_name,
        "type": "QUEUE",
        "image": dep.worker.get("image") or s.runpod_worker_image,
        "env": env,
        "disk": max(20, math.ceil(weights * 1.5) + 10),
        "gpu": {"pools": dep.gpu_pools, "count": dep.gpu_count},
        # One worker must really start for the model to load; finalize applies the serving scale.
        "workers": {"min": 1, "max": max(1, dep.max_replicas), "idleTimeout": dep.idle_timeout_seconds},
        "scaling": {"type": "QUEUE_DELAY", "queueDelay": 4},
        "flashboot": "FLASHBOOT",
        "timeout": 600000,
    }
    if dep.data_center_ids:
        body["dataCenterIds"] = dep.data_center_ids
    return body


@REGISTRY.register("create_endpoint")
def create_endpoint(ctx: StepContext) -> None:
    with _runpod(ctx) as client:
        endpoint_id, how = _find_or_create(ctx, client)
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
                _discard(client, endpoint_id)
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
            delay=ctx.settings.ready_poll_interval_seconds,
            message=("INFO", f"Runpod endpoint {endpoint_id} {how}; the worker is starting and downloading the model"),
        )
    )


def _find_or_create(ctx: StepContext, client: RunpodClient) -> tuple[str, str]:
    dep = ctx.dep
    if dep.runpod_endpoint_id:
        return dep.runpod_endpoint_id, "already recorded"
    # A create whose answer was lost left an endpoint with our name: adopt it, never make a second.
    mine = [e for e in client.list_endpoints() if e.get("name") == dep.endpoint_name]
    if mine:
        mine.sort(key=lambda e: e.get("createdAt") or "")
        for extra in mine[1:]:
            _discard(client, extra["id"])
        return mine[0]["id"], "adopted (created by an earlier attempt)"
    created = client.create_endpoint(endpoint_body(ctx))
    return created["id"], "created"


def _discard(client: RunpodClient, endpoint_id: str) -> None:
    try:
        client.delete_endpoint(endpoint_id)
    except RunpodError:
        pass  # the cleanup step and the reconciler find it by name


@REGISTRY.register("wait_ready")
def wait_ready(ctx: StepContext) -> None:
    dep = ctx.dep
    with _runpod(ctx) as client:
        try:
            health = client.endpoint_health(dep.runpod_endpoint_id or "")
        except RunpodError as exc:
            if not exc.transient:
                raise
            # Polling is this step's retry, bounded by the deployment's deadline: poll again.
            _poll_again(ctx, f"health check failed ({exc.message})")
            return
    workers = health.get("workers") or {}
    up = sum(int(workers.get(k) or 0) for k in ("idle", "ready", "running"))
    unhealthy = int(workers.get("unhealthy") or 0)
    if up > 0:
        ctx.mark_ready("a worker is up (health check)")  # superseded (e.g. deleted): run_step frees the lease
        return
    if unhealthy > 0:
        polls = int(dep.worker.get("unhealthy_polls", 0)) + 1
        if polls >= UNHEALTHY_POLLS_TO_FAIL:
            ctx.fail(
                "worker_unhealthy",
                f"Runpod reports {unhealthy} UNHEALTHY worker(s): the worker is crash-looping (not a capacity "
                "problem); check the model and image",
            )
            return
        _poll_again(ctx, f"{unhealthy} worker(s) unhealthy", unhealthy_polls=polls)
        return
    waiting = "waiting for GPU capacity" if int(workers.get("throttled") or 0) else "worker starting"
    _poll_again(ctx, waiting, unhealthy_polls=0)


def _poll_again(ctx: StepContext, note: str, unhealthy_polls: int | None = None) -> None:
    def apply(d: Deployment) -> None:
        if unhealthy_polls is not None:
            d.worker = {**d.worker, "unhealthy_polls": unhealthy_polls}
        d.worker_message = d.worker_message or note

    ctx.advance(
        Move(
            next_step="wait_ready",
            delay=ctx.settings.ready_poll_interval_seconds,
            apply=apply,
            outcome="waiting",
        )
    )


@REGISTRY.register("finalize")
def finalize(ctx: StepContext) -> None:
    """Ready: from the one provisioning worker to the desired workers (zero at rest by default, 0/0 if paused).

    Applied through desired_state's one serialised path, which reads the desired state when it PATCHes.
    """
    try:
        after = desired_state.settle_at_ready(ctx.svc, ctx.dep.deployment_id)
    except desired_state.ScalingFailed as exc:
        # Never fails a ready deployment: the step ends and the reconciler re-applies the workers.
        ctx.handle_fault(exc, give_up=lambda m: _scale_failed(ctx, m))
        return
    if after is None or after.status == Status.PAUSED:
        ctx.advance(Move(next_step=None, message=("INFO", "Paused before serving; workers set to 0/0")))
        return
    at_rest = "scaled to zero at rest" if after.min_replicas == 0 else f"{after.min_replicas} warm worker(s)"
    ctx.advance(
        Move(
            next_step=None,
            message=(
                "INFO",
                f"Endpoint serving: {at_rest} (min {after.min_replicas}, max {after.max_replicas} workers)",
            ),
        )
    )


def _scale_failed(ctx: StepContext, reason: str) -> None:
    ctx.advance(
        Move(
            next_step=None,
            outcome="failed",
            message=("WARNING", f"Could not set the serving workers: {reason}; the reconciler re-applies them"),
        )
    )


@REGISTRY.register("cleanup")
def cleanup(ctx: StepContext) -> None:
    """Delete every endpoint of this deployment (by id and by name) and verify each is gone."""
    dep = ctx.dep
    try:
        client = _runpod(ctx)
    except CryptoError:
        _cleanup_failed(ctx, "the stored Runpod key cannot be decrypted")
        return
    with client:
        try:
            ids = {dep.runpod_endpoint_id} - {None}
            ids |= {e["id"] for e in client.list_endpoints() if e.get("name") == dep.endpoint_name}
            for endpoint_id in sorted(ids):
                client.delete_endpoint(endpoint_id)
                if client.get_endpoint(endpoint_id) is not None:
                    raise RunpodError("unavailable", f"endpoint {endpoint_id} still exists after delete")
        except RunpodError as exc:
            ctx.handle_fault(
                exc,
                give_up=lambda m, exc=exc: _cleanup_failed(ctx, _with_key_hint(ctx, exc, m)),
                max_attempts=ctx.settings.cleanup_max_attempts,
            )
            return
    gone = ", ".join(sorted(ids)) or "none existed"
    deleted = dep.status in (Status.DELETING, Status.CLEANUP_FAILED)

    def apply(d: Deployment) -> None:
        d.endpoint_deleted_at = ctx.svc.now()

    moved = ctx.advance(
        Move(
            next_step=None,
            status=Status.DELETED if deleted else None,
            apply=apply,
            message=("INFO", f"Runpod endpoint removed and verified gone ({gone})"),
        )
    )
    if moved and deleted:
        notify.announce(ctx.svc, ctx.dep, "deployment.deleted")


def _with_key_hint(ctx: StepContext, exc: RunpodError, reason: str) -> str:
    """Why cleanup failed; for a key Runpod rejects, what the user can do about it."""
    if exc.kind in ("unauthorized", "forbidden"):
        dep_id = ctx.dep.deployment_id
        return (
            f"Runpod rejected the stored key ({exc.status or exc.kind}): update the credential "
            f"with PUT /v1/credentials/{{id}} or POST /v1/deployments/{dep_id}/credential"
        )
    return reason


def _cleanup_failed(ctx: StepContext, reason: str) -> None:
    status = Status.CLEANUP_FAILED if ctx.dep.status == Status.DELETING else None
    reason = f"{reason}; the reconciler keeps trying"

    def apply(d: Deployment) -> None:
        if d.steps and d.steps[-1].name == "cleanup":
            d.steps[-1].error = reason  # shown as deletion.error

    ctx.advance(
        Move(
            next_step=None,
            status=status,
            apply=apply,
            outcome="failed",
            message=("ERROR", f"Cleanup failed: {reason}"),
        )
    )
