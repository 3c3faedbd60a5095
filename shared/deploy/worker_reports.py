"""What the inference container reports about its deployment: its stage and progress, ready or failed,
and its log lines (its secret already verified: shared/deploy/worker_secret.py)."""

from __future__ import annotations

import json

from shared.deploy import engine, notify, records
from shared.deploy.green_reports import green_report
from shared.platform.errors import DeploymentNotFoundError
from shared.schemas.states import WAITING_FOR_WORKER, Status, can_move
from shared.schemas.stored import Deployment, ErrorInfo, LogLevel
from shared.schemas.worker import MAX_METADATA_BYTES, WorkerLogReport, WorkerReport, WorkerReportResponse
from shared.services import Services


def worker_report(svc: Services, deployment_id: str, report: WorkerReport, generation: int = 1) -> WorkerReportResponse:
    """Apply a report from the inference container (its secret, for its generation, already verified)."""
    dep = records.load(svc, deployment_id)
    if dep is None:
        raise DeploymentNotFoundError(f"Deployment {deployment_id} not found", {"deployment_id": deployment_id})
    if generation != dep.generation:  # a green update's container (or a retired one's): never the serving state
        return green_report(svc, dep, generation, report)
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


LEVELS: dict[str, LogLevel] = {"info": "INFO", "warning": "WARNING", "error": "ERROR"}
MAX_WORKER_EVENTS = 50
MAX_WORKER_EVENT_BYTES = 64 * 1024  # per bucket (errors, warnings)


def worker_log(svc: Services, deployment_id: str, line: WorkerLogReport, generation: int = 1) -> None:
    """A log line from the container: kept in the logs; the serving generation's warnings and errors are
    also shown on the deployment."""
    level: LogLevel = LEVELS[line.level]

    def keep(d: Deployment) -> Deployment | None:
        if line.level == "info" or generation != d.generation:
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
    source = "Worker" if generation == dep.generation else f"Worker (generation {generation})"
    records.log(svc, deployment_id, level, f"{source}: {line.message}", at=dep)
