"""functions-framework entry points: one Cloud Function each, plus `api`, which serves every path.

Each function serves only its own routes from the shared route table (functions/routes.py).
"""

from __future__ import annotations

import functions_framework
from flask import Request, Response
from werkzeug.exceptions import HTTPException

from functions.http import framework_error_response
from functions.logging_setup import configure_logging
from functions.routes import ROUTER

configure_logging()


@functions_framework.errorhandler(HTTPException)
def framework_error(exc: HTTPException) -> Response:
    return framework_error_response(exc)


@functions_framework.http
def api(request: Request) -> Response:
    return ROUTER.dispatch(request)


@functions_framework.http
def health(request: Request) -> Response:
    return ROUTER.dispatch(request, "health")


@functions_framework.http
def create_deployment(request: Request) -> Response:
    return ROUTER.dispatch(request, "create_deployment")


@functions_framework.http
def get_deployment(request: Request) -> Response:
    return ROUTER.dispatch(request, "get_deployment")


@functions_framework.http
def list_deployments(request: Request) -> Response:
    return ROUTER.dispatch(request, "list_deployments")


@functions_framework.http
def manage_deployment(request: Request) -> Response:
    return ROUTER.dispatch(request, "manage_deployment")


@functions_framework.http
def stream_logs(request: Request) -> Response:
    return ROUTER.dispatch(request, "stream_logs")


@functions_framework.http
def delete_deployment(request: Request) -> Response:
    return ROUTER.dispatch(request, "delete_deployment")


@functions_framework.http
def deployment_ready(request: Request) -> Response:
    return ROUTER.dispatch(request, "deployment_ready")


@functions_framework.http
def run_step(request: Request) -> Response:
    return ROUTER.dispatch(request, "run_step")


@functions_framework.http
def account(request: Request) -> Response:
    return ROUTER.dispatch(request, "account")


@functions_framework.http
def admin(request: Request) -> Response:
    return ROUTER.dispatch(request, "admin")


@functions_framework.http
def inference(request: Request) -> Response:
    return ROUTER.dispatch(request, "inference")


@functions_framework.http
def reconcile(request: Request) -> Response:
    return ROUTER.dispatch(request, "reconcile")
