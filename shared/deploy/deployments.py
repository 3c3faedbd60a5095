"""What the API does with deployments: create, read, delete, and the worker's reports."""

from __future__ import annotations

import json
import secrets

from shared.accounts import credentials
from shared.catalog import model_registry
from shared.catalog.gpu_pools import SelectionError, resolve_tier
from shared.catalog.model_names import UnknownModel
from shared.deploy import engine, notify, records
from shared.deploy import progress as progress_mod
from shared.deploy.endpoint_names import format_name
from shared.deploy.progress import phase_of
from shared.deploy.states import WAITING_FOR_WORKER, Status, can_move
from shared.platform.clock import iso, later
from shared.platform.clock import parse as parse_time
from shared.platform.crypto import callback_secret, same
from shared.platform.errors import ConflictError, DeploymentNotFoundError, UnauthorizedError, ValidationError
from shared.schemas.deployments import (
    CostInfo,
    CreateDeploymentRequest,
    CreateDeploymentResponse,
    DeletionInfo,
    DeploymentResponse,
)
from shared.schemas.stored import Deployment, ErrorInfo
from shared.schemas.worker import MAX_METADATA_BYTES, WorkerLogReport, WorkerReport, WorkerReportResponse
from shared.services import Services
from shared.webhooks import ssrf_guard

ESTIMATED_READY_SECONDS = 180


def new_deployment_id(svc: Services) -> str:
    return f"dep_{svc.now().year}_{secrets.token_hex(8)}"


def create(svc: Services, owner: str, body: CreateDeploymentRequest) -> CreateDeploymentResponse:
    facts: dict = {}
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
    key, credential_id = credentials.key_source(svc, owner, inline, body.credential_id)
    try:
        resolve_tier(body.gpu_tier)
    except SelectionError as exc:
        raise ValidationError(exc.message, {"field": "gpu_tier"}) from None

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
    )
    # The claim and the insert succeed or fail together (a crashed create's claim goes stale: claim_name).
    if body.deployment_name is not None and not claim_name(svc, owner, body.deployment_name, dep_id):
        raise ConflictError(
            f"You already have a deployment named {body.deployment_name!r}",
            {"field": "deployment_name", "deployment_name": body.deployment_name},
        )
    try:
        # The first task is queued before the record exists; it answers "not yet" until it does.
        engine.schedule(svc, dep_id, "validate", 1)
        if not records.insert(svc, dep):
            raise ConflictError("A deployment with this id already exists; retry")
    except BaseException:
        release_name(svc, dep)
        raise
    records.log(svc, dep_id, "INFO", f"Deployment accepted for {model_id} (gpu_tier={body.gpu_tier})")
    return CreateDeploymentResponse(
        deployment_id=dep_id,
        status=dep.status,
        model_id=model_id,
        estimated_ready_seconds=ESTIMATED_READY_SECONDS,
        webhook_url=dep.webhook_url,
        created_at=now,
    )


NAMES = "deployment_names"
CLAIM_GRACE_SECONDS = 60.0  # a claim whose deployment was never written is free after this


def _name_key(owner: str, name: str) -> str:
    return f"{owner}:{name}"


def claim_name(svc: Services, owner: str, name: str, deployment_id: str) -> bool:
    """Names are unique per owner: one document per (owner, name) naming the deployment that holds it.

    A released claim, one whose deployment is being deleted, or one whose deployment was never written
    (a create that crashed between claim and insert) is taken over by compare-and-set on its holder.
    """
    key = _name_key(owner, name)
    now = svc.now()
    mine = {"owner": owner, "deployment_id": deployment_id, "claimed_at": iso(now)}
    for _ in range(4):
        current = svc.store.get(NAMES, key)
        holder = (current or {}).get("deployment_id")
        if current is not None and holder and not _claim_is_stale(svc, current, now):
            return holder == deployment_id

        def take(doc: dict | None, holder: str | None = holder) -> dict | None:
            if doc is not None and doc.get("deployment_id") != holder:
                return None  # someone else changed it since we looked: look again
            return mine

        _, taken = svc.store.update(NAMES, key, take)
        if taken:
            return True
    return False


def _claim_is_stale(svc: Services, claim: dict, now) -> bool:
    dep = records.load(svc, claim["deployment_id"])
    if dep is not None:
        return dep.status in (Status.DELETING, Status.CLEANUP_FAILED, Status.DELETED)
    try:
        claimed_at = parse_time(claim["claimed_at"])
    except (KeyError, TypeError, ValueError):
        return True
    return (now - claimed_at).total_seconds() > CLAIM_GRACE_SECONDS


def release_name(svc: Services, dep: Deployment) -> None:
    """Release the deployment's name, only if this deployment still holds it (a repeated DELETE of an old
    deployment must not free the name a newer one now owns)."""
    if not dep.deployment_name:
        return

    def release(doc: dict | None) -> dict | None:
        if doc is None or doc.get("deployment_id") != dep.deployment_id:
            return None
        return {"owner": dep.owner, "deployment_id": None, "released_at": iso(svc.now())}

    svc.store.update(NAMES, _name_key(dep.owner, dep.deployment_name), release)


def owned(svc: Services, owner: str, deployment_id: str) -> Deployment:
    dep = records.load(svc, deployment_id) if len(deployment_id) <= 128 else None
    if dep is None or not same(dep.owner, owner):
        raise DeploymentNotFoundError(f"Deployment {deployment_id} not found", {"deployment_id": deployment_id})
    return dep


# What GET shows as stored; the rest of DeploymentResponse is derived in view().
SHARED_VIEW_FIELDS = set(DeploymentResponse.model_fields) & set(Deployment.model_fields)


def deletion_info(dep: Deployment) -> DeletionInfo | None:
    if dep.deletion_requested_at is None:
        return None
    if dep.status == Status.DELETED:
        state = "completed"
    elif dep.status == Status.CLEANUP_FAILED:
        state = "failed"
    else:
        state = "in_progress" if dep.lease_id else "pending"
    cleanup = [s for s in dep.steps if s.name == "cleanup"]
    return DeletionInfo(
        state=state,
        requested_at=dep.deletion_requested_at,
        completed_at=dep.endpoint_deleted_at if state == "completed" else None,
        # Attempts that have ended (the cleanup step's and the reconciler's alike); one still running
        # counts once it ends, so the figure never races with a re-drive in progress.
        attempts=sum(s.attempts - (s.state == "running") for s in cleanup),
        error=next((s.error for s in reversed(cleanup) if s.error), None),
    )


def view(svc: Services, dep: Deployment) -> DeploymentResponse:
    now = svc.now()
    phase, progress = phase_of(dep)
    errors = list(dep.worker_errors)
    if dep.error is not None:
        errors.append(dep.error.message)
    cost = progress_mod.cost(dep, now)
    shared = dep.model_dump(include=SHARED_VIEW_FIELDS)
    return DeploymentResponse(
        **shared,
        logs=records.recent_logs(svc, dep.deployment_id),
        phase=phase,
        progress=progress,
        errors=errors,
        warnings=list(dep.worker_warnings),
        estimated_ready_at=progress_mod.estimated_ready_at(dep, now),
        worker_image=dep.worker.get("image"),
        worker_reason=dep.worker.get("reason"),
        deletion=deletion_info(dep),
        cost=CostInfo(**cost) if cost else None,
    )


def delete(svc: Services, owner: str, deployment_id: str) -> None:
    dep = owned(svc, owner, deployment_id)
    engine.request_delete(svc, deployment_id)
    release_name(svc, dep)


# ---- the inference container's reports ---------------------------------------------------------


def verify_worker_secret(svc: Services, deployment_id: str, secret: str | None) -> None:
    expected = callback_secret(svc.settings.internal_secret.get_secret_value(), deployment_id)
    if not secret or not same(secret, expected):
        raise UnauthorizedError("Missing or invalid X-Visgate-Internal-Secret")


def worker_report(svc: Services, deployment_id: str, report: WorkerReport) -> WorkerReportResponse:
    """Apply a report from the inference container (its secret already verified)."""
    dep = records.load(svc, deployment_id)
    if dep is None:
        raise DeploymentNotFoundError(f"Deployment {deployment_id} not found", {"deployment_id": deployment_id})
    note = f": {report.message}" if report.message else ""
    if report.status == "ready":
        return _worker_ready(svc, dep)
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
        after = records.load(svc, deployment_id)
        return WorkerReportResponse(deployment_id=deployment_id, status=(after or dep).status)
    target = Status(report.status)

    def progress(d: Deployment) -> Deployment | None:
        if d.status not in WAITING_FOR_WORKER:
            return None
        moved = d.status != target and can_move(d.status, target)
        if d.status != target and not moved:
            return None  # a late report of an earlier stage changes nothing
        if moved:
            d.status, d.worker_progress = target, None
        d.worker_message = report.message
        if report.progress is not None:
            d.worker_progress = report.progress
        if report.metadata:
            merged = {**d.worker_metadata, **report.metadata}
            # Kept bounded: reports with ever new keys must not grow the record past what the store holds.
            fits = len(json.dumps(merged, default=str)) <= MAX_METADATA_BYTES
            d.worker_metadata = merged if fits else dict(report.metadata)
        return d

    before_progress = dep.worker_progress
    after, changed = records.mutate(svc, deployment_id, progress)
    if changed and after is not None and (after.status != dep.status or _worth_logging(before_progress, after)):
        pct = f" ({after.worker_progress}%)" if after.worker_progress is not None else ""
        records.log(svc, deployment_id, "INFO", f"Worker: {report.status.replace('_', ' ')}{pct}{note}", at=after)
    return WorkerReportResponse(deployment_id=deployment_id, status=(after or dep).status)


def _worker_ready(svc: Services, dep: Deployment) -> WorkerReportResponse:
    """Ready now, or, when the endpoint id is not recorded yet (a create whose answer was lost), kept
    on the deployment so that create_endpoint makes it ready once the id is saved. Never lost."""
    deployment_id = dep.deployment_id
    after: Deployment | None = dep
    for _ in range(4):
        after, moved = engine.mark_ready(svc, deployment_id, "reported by the worker")
        if moved:
            delivered = notify.announce(svc, after, "deployment.ready", inline=True)
            return WorkerReportResponse(
                deployment_id=deployment_id, status=(after or dep).status, webhook_delivered=bool(delivered)
            )
        if after is None or after.runpod_endpoint_id or after.status not in WAITING_FOR_WORKER:
            break
        noted, changed = engine.note_early_ready(svc, deployment_id)
        if changed and noted is not None:
            records.log(svc, deployment_id, "INFO", "Worker: ready (applied once the endpoint is recorded)", at=noted)
            after = noted
            break
        # The endpoint id was recorded meanwhile: mark_ready can apply now.
    return WorkerReportResponse(
        deployment_id=deployment_id,
        status=(after or dep).status,
        webhook_delivered=bool(after and after.webhook_delivered),
    )


def _worth_logging(before: int | None, after: Deployment) -> bool:
    """Progress reports may come every second: log a line per 10% step, not every report."""
    now = after.worker_progress
    return now is None or before is None or now // 10 != before // 10 or now == 100


MAX_WORKER_EVENTS = 50
MAX_WORKER_EVENT_BYTES = 64 * 1024  # per bucket (errors, warnings)


def worker_log(svc: Services, deployment_id: str, line: WorkerLogReport) -> None:
    """A log line from the container: kept in the logs; warnings and errors also shown on the deployment."""
    level = {"info": "INFO", "warning": "WARNING", "error": "ERROR"}[line.level]

    def keep(d: Deployment) -> Deployment | None:
        if line.level == "info":
            return None
        bucket = d.worker_errors if line.level == "error" else d.worker_warnings
        bucket.append(line.message)
        del bucket[:-MAX_WORKER_EVENTS]
        # Bounded in bytes too: 50 long non-ASCII lines each would pass Firestore's 1 MiB per document.
        while len(bucket) > 1 and sum(len(m.encode()) for m in bucket) > MAX_WORKER_EVENT_BYTES:
            del bucket[0]
        return d

    dep, _ = records.mutate(svc, deployment_id, keep)
    if dep is None:
        raise DeploymentNotFoundError(f"Deployment {deployment_id} not found", {"deployment_id": deployment_id})
    records.log(svc, deployment_id, level, f"Worker: {line.message}", at=dep)
