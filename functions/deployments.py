"""Handlers for /v1/deployments."""

from __future__ import annotations

from flask import Response

from functions.http import json_response, parse_body, read_json
from functions.routing import Call
from shared.accounts import idempotency
from shared.deploy import create, delete, records, tasks, view
from shared.schemas.deployments import CreateDeploymentRequest


def create_deployment(call: Call) -> Response:
    svc, request, headers = call.svc, call.request, call.headers()
    body = parse_body(request, CreateDeploymentRequest)
    key = request.headers.get("Idempotency-Key")
    if key is None:
        created = create.create(svc, call.owner, body).model_dump(mode="json")
    else:
        raw = read_json(request)
        created, replayed = idempotency.once(
            svc,
            call.owner,
            key,
            idempotency.body_hash(raw),
            lambda: create.create(svc, call.owner, body).model_dump(mode="json"),
        )
        headers["Idempotent-Replayed"] = "true" if replayed else "false"
    headers["Location"] = f"/v1/deployments/{created['deployment_id']}"
    headers["X-Task-Id"] = tasks.deploy_task_id(created["deployment_id"])  # GET /v1/tasks/{task_id}
    return json_response(created, 202, headers)


def get_deployment(call: Call, deployment_id: str) -> Response:
    svc, headers = call.svc, call.headers()
    dep = records.owned(svc, call.owner, deployment_id)
    return json_response(view.view(svc, dep), 200, headers)


def delete_deployment(call: Call, deployment_id: str) -> Response:
    svc, headers = call.svc, call.headers()
    headers["X-Task-Id"] = delete.delete(svc, call.owner, deployment_id)
    return Response(status=204, headers=headers)
