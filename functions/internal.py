"""Handlers for /internal: the worker's reports and the queue's step tasks."""

from __future__ import annotations

from flask import Response

from functions.http import json_response, parse_body
from functions.routing import Call
from shared.deploy import engine, notify, worker_reports
from shared.platform.errors import ValidationError
from shared.sandbox import worker_ticks
from shared.schemas.worker import StepTask, WorkerLogReport, WorkerReport
from shared.services import Services


def deployment_ready(call: Call, deployment_id: str) -> Response:
    svc, request = call.svc, call.request
    report = parse_body(request, WorkerReport)
    return json_response(worker_reports.worker_report(svc, deployment_id, report))


def deployment_log(call: Call, deployment_id: str) -> Response:
    """A log line from the inference container (info, warning or error)."""
    svc, request = call.svc, call.request
    line = parse_body(request, WorkerLogReport)
    worker_reports.worker_log(svc, deployment_id, line)
    return json_response({"deployment_id": deployment_id, "accepted": True})


def reconcile(call: Call) -> Response:
    """Cloud Scheduler's target in production; a self-rescheduling task on the embedded default."""
    svc = call.svc
    # Imported here: the reconciler brings the Runpod client (httpx) that the worker reports do not need.
    from shared.reconcile.reconciler import reconcile as run_reconciler
    from shared.reconcile.reconciler import schedule_next

    stats = run_reconciler(svc)
    if svc.settings.orchestrator_backend == "local":
        schedule_next(svc)
    return json_response({"result": "reconciled", **stats})


def sandbox_tick(svc: Services, endpoint_id: str, tick: int) -> Response:
    """One report of a simulated worker (shared/sandbox/worker_ticks.py); 503 retries it later."""
    try:
        result = worker_ticks.tick(svc.sandbox_world(None), endpoint_id, tick)
    except worker_ticks.ReportRefused as exc:
        return json_response({"result": "retry", "reason": str(exc)}, 503, {"Retry-After": "1"})
    return json_response({"result": result})


def run_step(call: Call) -> Response:
    svc, request = call.svc, call.request
    task = parse_body(request, StepTask)

    if task.kind == "webhook" and task.delivery_id is not None and task.attempt is not None:
        outcome = notify.deliver(svc, task.delivery_id, task.attempt)
    elif task.kind == "step" and task.deployment_id and task.step and task.seq is not None:
        outcome = engine.run_step(svc, task.deployment_id, task.step, task.seq, task.issued_at)
    elif task.kind == "sandbox" and task.endpoint_id and task.tick is not None:
        return sandbox_tick(svc, task.endpoint_id, task.tick)
    else:
        raise ValidationError("incomplete task body")
    headers = {"Retry-After": str(int(outcome.retry_after))} if outcome.retry_after else {}
    return json_response(outcome.body(), outcome.status, headers)
