"""OpenAPI 3.1 built from a route table and the pydantic models it names.

The builder takes the routes as an argument: whatever serves the document (functions/api_docs.py)
passes the table, so this module never imports it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from functions.routing import Route, model
from shared.schemas.service import ErrorResponse

ERROR_STATUSES = {
    "api_key": {401: "Missing or invalid API key", 422: "Invalid request", 429: "Rate limit exceeded"},
    "worker_secret": {401: "Missing or invalid X-Visgate-Internal-Secret", 422: "Invalid request"},
    "none": {},
    "metrics": {401: "Missing or invalid admin token (unless METRICS_PUBLIC=true)"},
    "task": {},
    "admin": {
        401: "Missing or invalid admin token",
        404: "Not found",
        422: "Invalid request",
        429: "Too many failed authentications from this client",
    },
}

# The 403s of routes a tier may not include (Route.feature); deployments also count against the tier's quotas.
FEATURE_ERRORS = {
    "default": "TierError: your tier does not include this (details: tier, feature, allowed_tiers)",
    "instances": "TierError: your tier does not include self-service deployments (details: tier, feature, "
    "allowed_tiers); QuotaExceededError: past a quota of your tier (details: tier, quota, limit, current, "
    "requested)",
}


def spec(table: Iterable[Route]) -> dict[str, Any]:
    """The OpenAPI document of the public routes of `table`."""
    routes = [r for r in table if r.public and r.documented]
    models: set[type[BaseModel]] = {ErrorResponse}
    for r in routes:
        models |= {model(m) for m in r.responses.values() if m is not None}
        if r.request is not None:
            models.add(model(r.request))
    refs, schema = models_json_schema(
        [(m, "serialization") for m in sorted(models, key=lambda m: m.__name__)]
        + [(model(r.request), "validation") for r in routes if r.request is not None],
        ref_template="#/components/schemas/{model}",
    )
    paths: dict[str, dict[str, Any]] = {}
    error_schema = {"application/json": {"schema": refs[(ErrorResponse, "serialization")]}}
    for r in routes:
        op: dict[str, Any] = {
            "operationId": r.operation,
            "summary": r.summary,
            "tags": [r.tag],
            "responses": {},
        }
        params = [seg[1:-1] for seg in r.path.split("/") if seg.startswith("{")]
        parameters = [{"name": p, "in": "path", "required": True, "schema": {"type": "string"}} for p in params]
        parameters += [{"name": q, "in": "query", "required": False, "schema": s} for q, s in r.query.items()]
        parameters += [{"name": h, "in": "header", "required": False, "schema": s} for h, s in r.headers.items()]
        if parameters:
            op["parameters"] = parameters
        if r.request is not None:
            op["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": refs[(model(r.request), "validation")]}},
            }
        for status, ref in r.responses.items():
            entry: dict[str, Any] = {"description": _describe(status)}
            if ref is not None:
                entry["content"] = {"application/json": {"schema": refs[(model(ref), "serialization")]}}
            op["responses"][str(status)] = entry
        errors = dict(ERROR_STATUSES[r.auth])
        if params and r.auth != "none":
            errors[404] = "Not found (also another tenant's, or an id that cannot exist)"
        if r.feature is not None:
            errors[403] = FEATURE_ERRORS.get(r.feature, FEATURE_ERRORS["default"])
        if r.request is not None:
            errors |= {413: "Request body too large", 415: "Body is not application/json"}
        for status, text in errors.items():
            entry = op["responses"].setdefault(str(status), {"description": text, "content": error_schema})
            if "content" not in entry:  # listed without a model: it is an error in the documented shape
                entry.update(description=text, content=error_schema)
        if r.auth == "api_key":
            op["security"] = [{"bearerAuth": []}]
        elif r.auth == "worker_secret":
            op["security"] = [{"workerSecret": []}]
        elif r.auth in ("admin", "metrics"):
            op["security"] = [{"adminToken": []}]
        paths.setdefault(r.path, {})[r.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "deployment-orchestrator",
            "version": "1.0.0",
            "description": "Deploy a Hugging Face model to a Runpod Serverless endpoint and manage its life.",
        },
        "paths": paths,
        "components": {
            "schemas": schema.get("$defs", {}),
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "description": "Your API key"},
                "workerSecret": {"type": "apiKey", "in": "header", "name": "X-Visgate-Internal-Secret"},
                "adminToken": {"type": "apiKey", "in": "header", "name": "X-Admin-Token"},
            },
        },
    }


def _describe(status: int) -> str:
    return {200: "OK", 202: "Accepted", 204: "No Content", 503: "Unavailable"}.get(status, str(status))
