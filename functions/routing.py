"""The route table's types and the dispatcher that serves it, whole or one function's share."""

from __future__ import annotations

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

from functions.http import error_response
from shared.errors import (
    ApiError,
    Contention,
    InternalError,
    MethodNotAllowedError,
    NotFoundError,
    ServiceUnavailableError,
)

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
