"""What the API does with deployments: create, read, delete, and the worker's reports."""

from __future__ import annotations

import secrets

from shared import engine, notify, repo
from shared.catalog import UnknownModel, get_hf_name
from shared.crypto import callback_secret, same
from shared.errors import DeploymentNotFoundError, UnauthorizedError, ValidationError
from shared.gpus import SelectionError, resolve_tier
from shared.models import (
    CreateDeploymentRequest,
    CreateDeploymentResponse,
    Deployment,
    DeploymentResponse,
    ErrorInfo,
    WorkerReport,
    WorkerReportResponse,
)
from shared.services import Services
from shared.states import WAITING_FOR_WORKER, Status, can_move
from shared.timeutil import later

ESTIMATED_READY_SECONDS = 180


def new_deployment_id(svc: Services) -> str:
    return f"dep_{svc.now().year}_{secrets.token_hex(8)}"


def create(svc: Services, owner: str, body: CreateDeploymentRequest) -> CreateDeploymentResponse:
    if body.model_name is not None:
        try:
            model_id = get_hf_name(body.model_name, body.provider)
        except UnknownModel as exc:
            raise ValidationError(str(exc), {"field": "model_name", "known_model_names": exc.known[:50]}) from None
    else:
        model_id = body.hf_model_id or ""
    try:
        resolve_tier(body.gpu_tier)
    except SelectionError as exc:
        raise ValidationError(exc.message, {"field": "gpu_tier"}) from None

    now = svc.now()
    dep_id = new_deployment_id(svc)
    facts = {}
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
        runpod_key=svc.cipher.encrypt(body.user_runpod_key.get_secret_value(), context=dep_id),
        created_at=now,
        updated_at=now,
        deadline_at=later(now, svc.settings.deploy_timeout_seconds),
        step_deadline_at=later(now, svc.settings.step_timeout_seconds),
        endpoint_name=f"{svc.settings.endpoint_name_prefix}{dep_id}",
        model_facts=facts,
        step="validate",
        seq=1,
    )
    # The first task is queued before the record exists; it answers "not yet" until it does.
    engine.schedule(svc, dep_id, "validate", 1)
    repo.insert(svc, dep)
    repo.log(svc, dep_id, "INFO", f"Deployment accepted for {model_id} (gpu_tier={body.gpu_tier})")
    return CreateDeploymentResponse(
        deployment_id=dep_id,
        status=dep.status,
        model_id=model_id,
        estimated_ready_seconds=ESTIMATED_READY_SECONDS,
        webhook_url=dep.webhook_url,
        created_at=now,
    )


def owned(svc: Services, owner: str, deployment_id: str) -> Deployment:
    dep = repo.load(svc, deployment_id) if len(deployment_id) <= 128 else None
    if dep is None or not same(dep.owner, owner):
        raise DeploymentNotFoundError(f"Deployment {deployment_id} not found", {"deployment_id": deployment_id})
    return dep


def view(svc: Services, dep: Deployment) -> DeploymentResponse:
    return DeploymentResponse(
        deployment_id=dep.deployment_id,
        status=dep.status,
        model_id=dep.model_id,
        runpod_endpoint_id=dep.runpod_endpoint_id,
        endpoint_url=dep.endpoint_url,
        gpu_allocated=dep.gpu_allocated,
        model_vram_gb=dep.model_vram_gb,
        logs=repo.recent_logs(svc, dep.deployment_id),
        error=dep.error,
        created_at=dep.created_at,
        ready_at=dep.ready_at,
        steps=dep.steps,
    )


def delete(svc: Services, owner: str, deployment_id: str) -> None:
    owned(svc, owner, deployment_id)
    engine.request_delete(svc, deployment_id)


# ---- the inference container's reports ---------------------------------------------------------


def verify_worker_secret(svc: Services, deployment_id: str, secret: str | None) -> None:
    expected = callback_secret(svc.settings.internal_secret.get_secret_value(), deployment_id)
    if not secret or not same(secret, expected):
        raise UnauthorizedError("Missing or invalid X-Visgate-Internal-Secret")


def worker_report(svc: Services, deployment_id: str, report: WorkerReport) -> WorkerReportResponse:
    """Apply a report from the inference container (its secret already verified)."""
    dep = repo.load(svc, deployment_id)
    if dep is None:
        raise DeploymentNotFoundError(f"Deployment {deployment_id} not found", {"deployment_id": deployment_id})
    note = f": {report.message}" if report.message else ""
    if report.status == "ready":
        after, moved = engine.mark_ready(svc, deployment_id, "reported by the worker")
        delivered = notify.announce(svc, after, "deployment.ready", inline=True) if moved else after.webhook_delivered
        return WorkerReportResponse(
            deployment_id=deployment_id, status=(after or dep).status, webhook_delivered=bool(delivered)
        )
    if report.status == "failed":
        engine.fail(
            svc,
            deployment_id,
            ErrorInfo(
                code="worker_failed",
                message=f"the inference container failed{note or ''}"[:2000],
                retryable=False,
                step="wait_ready",
            ),
        )
        after = repo.load(svc, deployment_id)
        return WorkerReportResponse(deployment_id=deployment_id, status=(after or dep).status)
    target = Status(report.status)

    def progress(d: Deployment) -> Deployment | None:
        if d.status not in WAITING_FOR_WORKER:
            return None
        if d.status != target and can_move(d.status, target):
            d.status = target
        d.worker_message = report.message
        return d

    after, changed = repo.mutate(svc, deployment_id, progress)
    if changed:
        repo.log(svc, deployment_id, "INFO", f"Worker: {report.status.replace('_', ' ')}{note}")
    return WorkerReportResponse(deployment_id=deployment_id, status=(after or dep).status)
