"""The route table's types and the dispatcher that serves it, whole or one function's share."""

from __future__ import annotations

import io
import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Literal

import pydantic
from flask import Request, Response
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule

from functions.http import error_response, is_unicode
from shared.errors import (
    ApiError,
    Contention,
    DeploymentNotFoundError,
    InternalError,
    MethodNotAllowedError,
    NotFoundError,
    ServiceUnavailableError,
    ValidationError,
)
from shared.store import valid_doc_id

log = logging.getLogger("orchestrator.http")

Auth = Literal["none", "api_key", "worker_secret", "task", "admin"]


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # OpenAPI style: /v1/deployments/{deployment_id}
    function: str  # the Cloud Function (entry point in main.py) that serves it
    handler: Callable[..., Response]
    summary: str
    auth: Auth = "api_key"
    request: type[pydantic.BaseModel] | None = None
    responses: dict[int, type[pydantic.BaseModel] | None] = field(default_factory=dict)
    tag: str = "deployments"
    public: bool = True  # listed in /openapi.json and routed by the public gateway
    query: dict[str, dict] = field(default_factory=dict)  # query parameter -> JSON schema (for /openapi.json)

    @property
    def rule(self) -> str:
        return self.path.replace("{", "<").replace("}", ">")


class Router:
    def __init__(self, routes: Sequence[Route]):
        self.routes = tuple(routes)

    @cache  # noqa: B019 - one router per process, built once
    def _map(self, function: str | None) -> Map:
        rules = [
            Rule(r.rule, methods=[r.method], endpoint=i, strict_slashes=False)
            for i, r in enumerate(self.routes)
            if function is None or r.function == function
        ]
        return Map(rules)

    def dispatch(self, request: Request, function: str | None = None) -> Response:
        try:
            return self._dispatch(request, function)
        finally:
            skip_unread_body(request)

    def _dispatch(self, request: Request, function: str | None) -> Response:
        adapter = self._map(function).bind("", path_info=request.path)
        try:
            try:
                index, params = adapter.match(method=request.method)
            except NotFound:
                raise NotFoundError(f"No route for {request.method} {request.path}") from None
            except MethodNotAllowed as exc:
                allowed = ", ".join(sorted(exc.valid_methods or []))
                raise MethodNotAllowedError(
                    f"{request.method} is not allowed on {request.path}", headers={"Allow": allowed}
                ) from None
            check_params(request, params)
            return self.routes[index].handler(request, **params)
        except ApiError as err:
            return error_response(err)
        except Contention:
            return error_response(
                ServiceUnavailableError("The deployment is busy; retry shortly", headers={"Retry-After": "1"})
            )
        except Exception:
            incident = secrets.token_hex(6)
            log.exception("unhandled error (incident %s) on %s %s", incident, request.method, request.path)
            return error_response(InternalError("Internal error", {"incident": incident}))


def check_params(request: Request, params: dict[str, str]) -> None:
    """Path ids that could not name a stored document ("." or "..", "__x__", lone surrogates) are a 404
    before any store sees them; query parameters must be valid Unicode."""
    for name, value in params.items():
        if not valid_doc_id(value):
            if name == "deployment_id":
                raise DeploymentNotFoundError("Deployment not found", {"deployment_id": "invalid"})
            raise NotFoundError(f"No such {name.removesuffix('_id')}", {name: "invalid"})
    for name, value in request.args.items(multi=True):
        if not (is_unicode(name) and is_unicode(value)):
            raise ValidationError("query parameters must be valid Unicode", {"field": "query"})


def skip_unread_body(request: Request) -> None:
    """What a handler did not read (a refused or oversized body) stays unread: the framework would
    otherwise read it whole into memory after the answer (functions-framework's `read_request`)."""
    request.stream = io.BytesIO()  # type: ignore[misc]  # werkzeug's cached_property is writable
