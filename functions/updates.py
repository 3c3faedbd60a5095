"""Handlers for green updates, rollbacks and tasks (/v1/deployments/{id} PATCH, .../rollback, /v1/tasks)."""

from __future__ import annotations

from flask import Response

from functions.http import json_response, parse_body
from functions.routing import Call
from shared.deploy import records, tasks, update
from shared.schemas.tasks import TaskList
from shared.schemas.updates import UpdateDeploymentRequest


def update_deployment(call: Call, deployment_id: str) -> Response:
    records.owned(call.svc, call.owner, deployment_id)  # another tenant's deployment is a 404, whatever the body
    body = parse_body(call.request, UpdateDeploymentRequest)
    task = update.patch(call.svc, call.owner, deployment_id, body)
    return json_response(task, 202, call.headers(Location=f"/v1/tasks/{task.task_id}"))


def rollback_deployment(call: Call, deployment_id: str) -> Response:
    task = update.rollback(call.svc, call.owner, deployment_id)
    return json_response(task, 202, call.headers(Location=f"/v1/tasks/{task.task_id}"))


def get_task(call: Call, task_id: str) -> Response:
    return json_response(tasks.get(call.svc, call.owner, task_id), 200, call.headers())


def deployment_tasks(call: Call, deployment_id: str) -> Response:
    dep = records.owned(call.svc, call.owner, deployment_id)
    return json_response(TaskList(data=tasks.for_deployment(call.svc, dep)), 200, call.headers())
