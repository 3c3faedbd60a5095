"""OpenAPI 3.1 generated from the route table and the pydantic models, and the /docs page."""

from __future__ import annotations

import mimetypes
from functools import cache
from typing import Any

from flask import Response
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from functions.http import json_response
from functions.routing import Call, model
from shared.platform.errors import NotFoundError
from shared.schemas.service import ErrorResponse

ERROR_STATUSES = {
    "api_key": {401: "Missing or invalid API key", 422: "Invalid request", 429: "Rate limit exceeded"},
    "worker_secret": {401: "Missing or invalid X-Visgate-Internal-Secret", 422: "Invalid request"},
    "none": {},
    "task": {},
    "admin": {
        401: "Missing or invalid admin token",
        404: "Not found",
        422: "Invalid request",
        429: "Too many failed authentications from this client",
    },
}


@cache
def spec() -> dict[str, Any]:
    from functions.routes import ROUTER

    routes = [r for r in ROUTER.routes if r.public]
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
        elif r.auth == "admin":
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


def openapi_json(call: Call) -> Response:
    return json_response(spec())


_DOCS_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>deployment-orchestrator API</title>
<link rel="stylesheet" href="/docs/static/swagger-ui.css"></head>
<body><div id="ui"></div>
<script src="/docs/static/swagger-ui-bundle.js"></script>
<script>SwaggerUIBundle({url: "/openapi.json", dom_id: "#ui"});</script>
</body></html>"""


def docs(call: Call) -> Response:
    return Response(_DOCS_PAGE, mimetype="text/html")


def docs_static(call: Call, filename: str) -> Response:
    from swagger_ui_bundle import swagger_ui_path

    if filename not in {"swagger-ui.css", "swagger-ui-bundle.js"}:
        raise NotFoundError(f"no such file {filename}")
    data = (swagger_ui_path / filename).read_bytes()
    mime = mimetypes.guess_type(filename)[0] or "application/octet-stream"
    return Response(data, mimetype=mime, headers={"Cache-Control": "public, max-age=86400"})
