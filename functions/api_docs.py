"""The API's own documentation: /openapi.json (built once from the route table) and the Swagger UI page."""

from __future__ import annotations

import mimetypes
from functools import cache
from typing import Any

from flask import Response
from swagger_ui_bundle import swagger_ui_path

from functions.http import json_response
from functions.openapi import spec
from functions.routes import ROUTER
from functions.routing import Call
from shared.platform.errors import NotFoundError


@cache
def document() -> dict[str, Any]:
    """The OpenAPI document of every public route, built on the first request for it."""
    return spec(ROUTER.routes)


def openapi_json(call: Call) -> Response:
    return json_response(document())


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
    if filename not in {"swagger-ui.css", "swagger-ui-bundle.js"}:
        raise NotFoundError(f"no such file {filename}")
    data = (swagger_ui_path / filename).read_bytes()
    mime = mimetypes.guess_type(filename)[0] or "application/octet-stream"
    return Response(data, mimetype=mime, headers={"Cache-Control": "public, max-age=86400"})
