"""validate and select_gpu: what the model needs (from the Hub) and which GPUs serve it."""

from __future__ import annotations

from shared.accounts.credentials import deployment_runpod
from shared.catalog import gpu_pools, vram
from shared.catalog.worker_image import plan_worker
from shared.clients.hub import HubError, ModelFacts, fetch_model_facts
from shared.clients.runpod import RunpodError
from shared.deploy.commit import Move
from shared.deploy.step_context import StepContext
from shared.platform.crypto import CryptoError
from shared.sandbox.catalog import known_models, offline_facts
from shared.schemas.states import Status
from shared.schemas.stored import Deployment

ASSUMED_VRAM_GB = 16.0


def _hf_token(ctx: StepContext) -> str | None:
    token = ctx.dep.model_facts.get("hf_token")
    if token:
        return ctx.svc.cipher.decrypt(token, context=ctx.dep.deployment_id)
    # The operator's token only with HF_TOKEN_FOR_TENANTS: else a tenant could probe what it can read.
    operator = ctx.settings.hf_token
    return operator.get_secret_value() if operator and ctx.settings.hf_token_for_tenants else None


def validate(ctx: StepContext) -> None:
    dep = ctx.dep
    ctx.log("INFO", f"Validating Hugging Face model {dep.model_id}")
    facts = _model_facts(ctx)
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


def _model_facts(ctx: StepContext) -> ModelFacts:
    """From the Hub; for a sandbox deployment with the Hub out of reach, from the sandbox's offline catalog."""
    dep, s = ctx.dep, ctx.settings
    try:
        return fetch_model_facts(s.hf_endpoint, dep.model_id, _hf_token(ctx), s.http_timeout_seconds)
    except HubError as exc:
        if not (dep.sandbox and exc.unreachable):
            raise
        facts = offline_facts(dep.model_id)
        if facts is None:
            known = ", ".join(known_models())
            raise HubError(
                "model_not_found",
                f"{exc.message}, and {dep.model_id} is not in the sandbox's offline catalog (it knows: {known})",
            ) from None
        ctx.log("WARNING", f"Hugging Face is out of reach ({exc.message}): using the sandbox's offline catalog")
        return facts


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
    """Runpod's live serverless price for the pool when the catalog answers; the shipped table otherwise.
    Nothing costs money in the sandbox."""
    if ctx.dep.sandbox:
        return 0.0, "sandbox"
    try:
        with deployment_runpod(ctx.svc, ctx.dep) as client:
            for gpu in client.list_gpus():
                serverless = (gpu.get("price") or {}).get("serverless")
                if gpu.get("pool") == pool_id and serverless is not None:
                    return float(serverless), "runpod_catalog"
    except (RunpodError, CryptoError, ValueError, TypeError):
        pass
    pool = gpu_pools.pool_by_id(pool_id)
    return (pool.price_per_gpu_hour if pool else None), "shipped_table"
