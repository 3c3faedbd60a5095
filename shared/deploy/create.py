"""POST /v1/deployments: validate the request, store the deployment and queue its first step."""

from __future__ import annotations

import math
import secrets
from typing import Any

from shared.accounts import credential_claims, credentials
from shared.catalog import model_registry
from shared.catalog.gpu_pools import SelectionError, resolve_tier, select
from shared.catalog.model_names import UnknownModel
from shared.deploy import engine, progress, quotas, records, tasks
from shared.deploy.deployment_names import claim_name, release_name
from shared.deploy.endpoint_names import format_name
from shared.deploy.steps.sizing import OPERATOR_HF
from shared.platform.clock import later
from shared.platform.errors import ConflictError, ValidationError
from shared.sandbox.keys import SANDBOX_KEY, is_sandbox_key
from shared.schemas.deployments import CreateDeploymentRequest, CreateDeploymentResponse
from shared.schemas.states import Status
from shared.schemas.stored import Deployment
from shared.services import Services
from shared.webhooks import ssrf_guard

ESTIMATED_READY_SECONDS = 180
SANDBOX_ASSUMED_WEIGHTS_GB = 5.0  # before the model is sized


def new_deployment_id(svc: Services) -> str:
    return f"dep_{svc.now().year}_{secrets.token_hex(8)}"


def create(
    svc: Services,
    owner: str,
    body: CreateDeploymentRequest,
    *,
    launch: dict[str, Any] | None = None,
    operator_hf: bool = False,
) -> CreateDeploymentResponse:
    """`launch`: a seed 004 node launch's own fields (shared/deploy/nodes.py); `operator_hf`: the operator's
    HF_TOKEN reads and downloads the model (the operator's own launches only)."""
    facts: dict[str, Any] = {"hf_token_source": OPERATOR_HF} if operator_hf else {}
    if body.model_name is not None:
        try:
            entry = model_registry.resolve(svc, body.model_name, body.provider)
        except UnknownModel as exc:
            raise ValidationError(str(exc), {"field": "model_name", "known_model_names": exc.known[:50]}) from None
        model_id = entry.hf_model_id
        if entry.vram_required_gb:
            facts["registry_vram_gb"] = entry.vram_required_gb
    else:
        model_id = body.hf_model_id or ""
    try:
        if body.user_webhook_url is not None:
            ssrf_guard.check_url(body.user_webhook_url, svc.settings.private_webhooks_allowed)
    except ValueError as exc:
        raise ValidationError(f"user_webhook_url {exc}", {"field": "user_webhook_url"}) from None
    inline = body.user_runpod_key.get_secret_value() if body.user_runpod_key else None
    if body.sandbox_scenario is not None:
        inline = SANDBOX_KEY
    key, credential_id = credentials.key_source(svc, owner, inline, body.credential_id)
    sandbox = is_sandbox_key(key)
    if sandbox and not svc.settings.sandbox_on:
        raise ValidationError("The sandbox is turned off on this install (SANDBOX_ENABLED)", {"field": "sandbox"})
    if sandbox and body.model_cache != "none":
        raise ValidationError(
            "The sandbox simulates no network volumes: leave out model_cache", {"field": "model_cache"}
        )
    try:
        resolve_tier(body.gpu_tier)
    except SelectionError as exc:
        raise ValidationError(exc.message, {"field": "gpu_tier"}) from None
    _check_ceiling(body, float(facts.get("registry_vram_gb") or 0))

    now = svc.now()
    dep_id = new_deployment_id(svc)
    if body.user_hf_token is not None:
        facts["hf_token"] = svc.cipher.encrypt(body.user_hf_token.get_secret_value(), context=dep_id)
    dep = Deployment(
        deployment_id=dep_id,
        owner=owner,
        status=Status.VALIDATING,
        model_id=model_id,
        model_name=body.model_name,
        provider=body.provider,
        gpu_tier=body.gpu_tier,
        webhook_url=body.user_webhook_url,
        # A stored credential is used by reference (credentials.deployment_key); an inline key is copied.
        runpod_key="" if credential_id else svc.cipher.encrypt(key, context=dep_id),
        credential_id=credential_id,
        created_at=now,
        updated_at=now,
        deadline_at=later(now, svc.settings.deploy_timeout_seconds),
        step_deadline_at=later(now, svc.settings.step_timeout_seconds),
        endpoint_name=format_name(svc.settings.endpoint_name_prefix, svc.settings.install_id or "", dep_id),
        model_facts=facts,
        step="validate",
        seq=1,
        deployment_name=body.deployment_name,
        min_replicas=body.min_replicas,
        max_replicas=body.max_replicas,
        idle_timeout_seconds=body.idle_timeout_seconds,
        gpu_count_requested=body.gpu_count,
        extra_env=body.env,
        data_center_ids=body.data_center_ids,
        sandbox=sandbox,
        budget=body.budget,
        auto_pause_unhealthy=body.auto_pause_unhealthy,
        max_price_per_gpu_hour=body.max_price_per_gpu_hour,
        model_cache=body.model_cache,
        sandbox_scenario=(body.sandbox_scenario or "ok") if sandbox else None,
        launch=launch or {},
    )
    # The claim and the insert succeed or fail together (a crashed create's claim goes stale: claim_name).
    if body.deployment_name is not None and not claim_name(svc, owner, body.deployment_name, dep_id):
        raise ConflictError(
            f"You already have a deployment named {body.deployment_name!r}",
            {"field": "deployment_name", "deployment_name": body.deployment_name},
        )
    if credential_id and not credential_claims.claim(svc, credential_id, dep_id):  # see credential_claims
        release_name(svc, dep)
        raise ValidationError(f"Credential {credential_id} is being deleted", {"field": "credential_id"})
    try:
        quotas.reserve(svc, owner, quotas.tier_of(svc, owner), dep_id, quotas.gpus_of(dep), new=True)
        # The first task is queued before the record exists; it answers "not yet" until it does.
        engine.schedule(svc, dep_id, "validate", 1)
        tasks.open_task(svc, dep, "deploy", tasks.deploy_task_id(dep_id), {"gpu_tier": body.gpu_tier})
        if not records.insert(svc, dep):
            raise ConflictError("A deployment with this id already exists; retry")
    except BaseException:
        release_name(svc, dep)
        quotas.release(svc, owner, dep_id)
        raise
    finally:
        if credential_id:  # inserted (the delete's query now sees it) or refused: the claim has done its job
            credential_claims.release(svc, credential_id, dep_id)
    mode = f"; sandbox, scenario {dep.sandbox_scenario}: simulated Runpod, no cost" if sandbox else ""
    records.log(svc, dep_id, "INFO", f"Deployment accepted for {model_id} (gpu_tier={body.gpu_tier}){mode}")
    return CreateDeploymentResponse(
        deployment_id=dep_id,
        status=dep.status,
        model_id=model_id,
        estimated_ready_seconds=_estimated_ready_seconds(svc, dep),
        webhook_url=dep.webhook_url,
        created_at=now,
        sandbox=sandbox,
    )


def _check_ceiling(body: CreateDeploymentRequest, known_gb: float) -> None:
    """A ceiling below every pool that could serve the request is refused now (shipped prices; a model not
    sized yet counts as fitting anywhere); select_gpu checks again once the model is sized."""
    if body.max_price_per_gpu_hour is None:
        return
    try:
        select(known_gb, body.gpu_tier, body.gpu_count, None, body.max_price_per_gpu_hour)
    except SelectionError as exc:
        if exc.code == "price_ceiling_too_low":
            raise ValidationError(exc.message, {"field": "max_price_per_gpu_hour", "code": exc.code}) from None


def _estimated_ready_seconds(svc: Services, dep: Deployment) -> int:
    """The usual estimate; a sandbox deployment's own (its simulated workers take seconds)."""
    if not dep.sandbox:
        return ESTIMATED_READY_SECONDS
    planned = progress.durations(dep, SANDBOX_ASSUMED_WEIGHTS_GB, svc.settings.sandbox_time_scale)
    return math.ceil(sum(planned)) + 1  # + validation and the endpoint's creation
