"""Handlers for seed 003's task routes (/deploy, /delete and their status routes), API-key authenticated.

A model id holds a slash (`org/model`): each by-model route is also served as `{namespace}/{model_id}`.
"""

from __future__ import annotations

from flask import Response

from functions.http import json_response, parse_body
from functions.routing import Call
from shared.deploy import seed_tasks
from shared.schemas.tasks import ModelDeletionRequest, ModelDeploymentRequest


def _model(model_id: str, namespace: str | None) -> str:
    return f"{namespace}/{model_id}" if namespace else model_id


def deploy(call: Call) -> Response:
    body = parse_body(call.request, ModelDeploymentRequest)
    return json_response(seed_tasks.deploy_model(call.svc, call.owner, body.model_id, body.config), 202, call.headers())


def get_deploy_task(call: Call, task_id: str) -> Response:
    found = seed_tasks.task_of_kind(call.svc, call.owner, task_id, seed_tasks.DEPLOY_KINDS)
    return json_response(found, 200, call.headers())


def get_model_deploy_status(call: Call, model_id: str, namespace: str | None = None) -> Response:
    found = seed_tasks.status_of_model(call.svc, call.owner, _model(model_id, namespace), seed_tasks.DEPLOY_KINDS)
    return json_response(found, 200, call.headers())


def delete(call: Call) -> Response:
    body = parse_body(call.request, ModelDeletionRequest)
    return json_response(seed_tasks.delete_model(call.svc, call.owner, body.model_id), 202, call.headers())


def get_delete_task(call: Call, task_id: str) -> Response:
    found = seed_tasks.task_of_kind(call.svc, call.owner, task_id, seed_tasks.DELETE_KINDS)
    return json_response(found, 200, call.headers())


def get_model_delete_status(call: Call, model_id: str, namespace: str | None = None) -> Response:
    found = seed_tasks.status_of_model(call.svc, call.owner, _model(model_id, namespace), seed_tasks.DELETE_KINDS)
    return json_response(found, 200, call.headers())
