"""Handlers for /v1/deployments."""

from __future__ import annotations

from flask import Request, Response

from functions.http import json_response, parse_body, read_json
from functions.security import api_principal
from shared import deployments, idempotency
from shared.models import CreateDeploymentRequest
from shared.services import services


def create_deployment(request: Request) -> Response:
    svc = services()
    principal, headers = api_principal(svc, request)
    body = parse_body(request, CreateDeploymentRequest)
    key = request.headers.get("Idempotency-Key")
    if key is None:
        created = deployments.create(svc, principal.owner, body).model_dump(mode="json")
    else:
        raw = read_json(request)
        created, replayed = idempotency.once(
            svc,
            principal.owner,
            key,
            idempotency.body_hash(raw),
            lambda: deployments.create(svc, principal.owner, body).model_dump(mode="json"),
        )
        headers["Idempotent-Replayed"] = "true" if replayed else "false"
    headers["Location"] = f"/v1/deployments/{created['deployment_id']}"
    return json_response(created, 202, headers)


def get_deployment(request: Request, deployment_id: str) -> Response:
    svc = services()
    principal, headers = api_principal(svc, request)
    dep = deployments.owned(svc, principal.owner, deployment_id)
    return json_response(deployments.view(svc, dep), 200, headers)


def delete_deployment(request: Request, deployment_id: str) -> Response:
    svc = services()
    principal, headers = api_principal(svc, request)
    deployments.delete(svc, principal.owner, deployment_id)
    return Response(status=204, headers=headers)
