"""validate and select_gpu: what the model needs (from the Hub) and which GPUs serve it.

`assess` and `choose` size any deployment record (a new one, or a green update's candidate in
shared/deploy/steps/green.py): each returns the change to apply and the line to log.
"""

from __future__ import annotations

from collections.abc import Callable

from shared.accounts.credentials import deployment_runpod
from shared.catalog import gpu_pools, vram
from shared.catalog.availability import Stock, pool_levels, serverless_prices
from shared.catalog.worker_image import MIN_CUDA_VERSION, plan_worker
from shared.clients.hub import HubError, ModelFacts, fetch_model_facts
from shared.clients.runpod import RunpodError
from shared.deploy import quotas
from shared.deploy.commit import Move
from shared.deploy.step_context import StepContext
from shared.platform.crypto import CryptoError
from shared.sandbox.catalog import known_models, offline_facts
from shared.schemas.states import Status
from shared.schemas.stored import Deployment, LogLevel
from shared.services import Services

ASSUMED_VRAM_GB = 16.0
OPERATOR_HF = "operator"  # model_facts["hf_token_source"] of an admin node launch: HF_TOKEN reads and downloads
CATALOG_TIMEOUT_SECONDS = 5.0  # the live catalog only ranks pools: without it, placement goes by price

Change = Callable[[Deployment], None]


def _hf_token(svc: Services, dep: Deployment) -> str | None:
    token = dep.model_facts.get("hf_token")
    if token:
        return svc.cipher.decrypt(token, context=dep.deployment_id)
    # The operator's token for the operator's own launches (OPERATOR_HF); for a tenant's model only with
    # HF_TOKEN_FOR_TENANTS: else a tenant could probe what it can read.
    operator = svc.settings.hf_token
    allowed = svc.settings.hf_token_for_tenants or dep.model_facts.get("hf_token_source") == OPERATOR_HF
    return operator.get_secret_value() if operator and allowed else None


def validate(ctx: StepContext) -> None:
    ctx.log("INFO", f"Validating Hugging Face model {ctx.dep.model_id}")
    apply, message = assess(ctx.svc, ctx.dep, ctx.log)
    ctx.advance(Move(next_step="select_gpu", status=Status.SELECTING_GPU, apply=apply, message=("INFO", message)))


def assess(svc: Services, dep: Deployment, log: Callable[[LogLevel, str], None]) -> tuple[Change, str]:
    """What `dep`'s model needs, from the Hub: (the change recording it, the line saying it)."""
    facts = _model_facts(svc, dep, log)
    estimate = vram.estimate(facts)
    required = estimate.required_gb
    registered = dep.model_facts.get("registry_vram_gb")
    if registered:
        required = float(registered)
    elif estimate.weights_bytes == 0:
        required = ASSUMED_VRAM_GB
        log("WARNING", f"The Hub lists no weight sizes for {dep.model_id}; assuming {required:.0f} GB of VRAM")

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

    message = (
        f"HF model validated: {facts.library_name or 'unknown library'}, "
        f"{facts.pipeline_tag or 'unknown task'}, needs about {required:.1f} GB VRAM"
    )
    return apply, message


def _model_facts(svc: Services, dep: Deployment, log: Callable[[LogLevel, str], None]) -> ModelFacts:
    """From the Hub; for a sandbox deployment with the Hub out of reach, from the sandbox's offline catalog."""
    s = svc.settings
    try:
        return fetch_model_facts(s.hf_endpoint, dep.model_id, _hf_token(svc, dep), s.http_timeout_seconds, dep.revision)
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
        log("WARNING", f"Hugging Face is out of reach ({exc.message}): using the sandbox's offline catalog")
        return facts


def select_gpu(ctx: StepContext) -> None:
    apply, message = choose(ctx.svc, ctx.dep)
    ctx.advance(
        Move(next_step="create_endpoint", status=Status.CREATING_ENDPOINT, apply=apply, message=("INFO", message))
    )


def choose(svc: Services, dep: Deployment) -> tuple[Change, str]:
    """The GPU pools, count and worker image for `dep`'s sized model: (the change, the line saying it).

    Pools are ranked by fit, then Runpod's live availability, then price; the whole decision is kept
    as `placement` (GET /v1/deployments/{id})."""
    required = float(dep.model_facts.get("required_vram_gb") or dep.model_vram_gb or ASSUMED_VRAM_GB)
    price_only = svc.settings.placement_mode == "price_only"
    stock = Stock({}, error="PLACEMENT_MODE=price_only") if price_only else live_stock(svc, dep)
    choice = gpu_pools.select(
        required, dep.gpu_tier, dep.gpu_count_requested, None if price_only else stock, dep.max_price_per_gpu_hour
    )
    quotas.reserve_choice(svc, dep, choice.gpu_count)
    price, source = _price(dep, stock, choice.pools[0])
    plan = plan_worker(
        svc.settings,
        dep.model_id,
        dep.model_facts.get("library_name"),
        dep.model_facts.get("pipeline_tag"),
        choice.gpu_count,
        dep.model_facts.get("max_model_len"),
    )
    first = gpu_pools.pool_by_id(choice.pools[0])
    placement = {
        "required_vram_gb": round(required, 2),
        "min_cuda_version": plan.min_cuda_version,
        "data_center_ids": list(dep.data_center_ids),
        "availability_source": _source(stock, price_only),
        "candidates": list(choice.candidates),
        "chosen": list(choice.pools),
        "mode": svc.settings.placement_mode,
        "max_price_per_gpu_hour": dep.max_price_per_gpu_hour,
        "history": [],
    }

    def apply(d: Deployment) -> None:
        d.gpu_pools = choice.pools
        d.gpu_count = choice.gpu_count
        d.gpu_reason = choice.reason
        d.worker = {
            "image": plan.image,
            "kind": plan.kind,
            "env": plan.env,
            "reason": plan.reason,
            "min_cuda_version": plan.min_cuda_version,
        }
        d.price_per_gpu_hour, d.price_source = price, source
        d.placement = placement

    names = ", ".join(first.gpus) if first else choice.pools[0]
    return apply, f"Selected GPU: {choice.pools[0]} ({names}) x{choice.gpu_count}; {choice.reason}"


def _source(stock: Stock, price_only: bool) -> str:
    if price_only:
        return "price_only"
    return "runpod_catalog" if stock.error is None else f"unavailable: {stock.error}"


def live_stock(svc: Services, dep: Deployment) -> Stock:
    """Runpod's live stock per pool (restricted to the deployment's data centers and the images' CUDA floor);
    empty with the reason when the catalog does not answer in time, and placement falls back to price."""
    try:
        with deployment_runpod(svc, dep) as client:
            gpus = client.gpu_stock(MIN_CUDA_VERSION, timeout=CATALOG_TIMEOUT_SECONDS)
    except RunpodError as exc:
        return Stock({}, error=f"Runpod's catalog did not answer ({exc.message})")
    except (CryptoError, ValueError, TypeError) as exc:
        return Stock({}, error=f"Runpod's catalog could not be read ({type(exc).__name__})")
    # Nothing costs money in the sandbox: its pools rank by the shipped table's prices.
    return Stock(pool_levels(gpus, dep.data_center_ids), {} if dep.sandbox else serverless_prices(gpus))


def _price(dep: Deployment, stock: Stock, pool_id: str) -> tuple[float | None, str]:
    """Runpod's live serverless price for the pool when the catalog answered; the shipped table otherwise."""
    if dep.sandbox:
        return 0.0, "sandbox"
    if pool_id in stock.prices:
        return stock.prices[pool_id], "runpod_catalog"
    pool = gpu_pools.pool_by_id(pool_id)
    return (pool.price_per_gpu_hour if pool else None), "shipped_table"
