"""GET /v1/gpu-pools: what the console's create form shows next to each GPU (the model's VRAM estimate, the
GPUs it needs on each pool, the price per hour). Picking stays with the select_gpu step; this only informs."""

from __future__ import annotations

from flask import Response

from functions.http import json_response
from functions.routing import Call
from shared.catalog import pool_options, vram
from shared.clients.hub import HubError, fetch_model_facts
from shared.platform.errors import ValidationError
from shared.sandbox.catalog import offline_facts
from shared.schemas.gpu_pools import GpuPoolList, GpuPoolOption
from shared.schemas.stored import HF_REPO_ID


def _estimate(call: Call, model_id: str) -> tuple[float | None, str | None]:
    """The model's VRAM need in GB from the Hub (no token: a tenant must not probe what the operator reads)."""
    settings = call.svc.settings
    try:
        facts = fetch_model_facts(settings.hf_endpoint, model_id, None, settings.http_timeout_seconds)
    except HubError as err:
        # The Hub out of reach (offline laptop, CI): the sandbox's catalog answers, as in the validate step.
        offline = offline_facts(model_id) if err.unreachable and settings.sandbox_on else None
        if offline is None:
            return None, err.message
        facts = offline
    estimate = vram.estimate(facts)
    if estimate.weights_bytes == 0:
        return None, f"the Hub lists no weight sizes for {model_id}"
    return round(estimate.required_gb, 1), None


def gpu_pools(call: Call) -> Response:
    model_id = call.request.args.get("model_id") or None
    if model_id is not None and (not HF_REPO_ID.match(model_id) or ".." in model_id or "--" in model_id):
        raise ValidationError("model_id must be a Hugging Face repo id such as 'org/model'", {"field": "model_id"})
    required, problem = _estimate(call, model_id) if model_id else (None, None)
    data = [
        GpuPoolOption(
            pool=o.pool,
            gpus=list(o.gpus),
            vram_gb=o.vram_gb,
            fits=o.fits,
            gpu_count=o.gpu_count,
            price_per_gpu_hour=o.price_per_gpu_hour,
            price_per_hour=o.price_per_hour,
        )
        for o in pool_options.options(required)
    ]
    body = GpuPoolList(model_id=model_id, required_vram_gb=required, estimate_error=problem, data=data)
    return json_response(body, 200, call.headers())
