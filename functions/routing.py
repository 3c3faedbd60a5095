"""The route table's types and the dispatcher that serves it, whole or one function's share."""

from __future__ import annotations

import importlib
import io
import logging
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any, Literal

from flask import Request, Response
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule

from functions.http import error_response, is_unicode
from shared.platform.errors import (
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

if TYPE_CHECKING:
    import pydantic

    from shared.accounts.tenants import Principal
    from shared.services import Services

log = logging.getLogger("orchestrator.http")

# "metrics": the admin token, unless METRICS_PUBLIC opens the route to a scraper.
Auth = Literal["none", "api_key", "worker_secret", "task", "admin", "metrics"]


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # OpenAPI style: /v1/deployments/{deployment_id}
    function: str  # the Cloud Function (entry point in main.py) that serves it
    # "deployments:get_deployment" (= functions.deployments) or "pkg.module:name"; imported on first use, so
    # each Cloud Function loads only its own handlers (cold starts).
    handler: str
    summary: str
    auth: Auth = "api_key"
    request: str | None = (
        None  # "deployments:ScaleRequest" (in shared.schemas): pydantic models, imported when the spec is built
    )
    responses: dict[int, str | None] = field(default_factory=dict)
    tag: str = "deployments"
    public: bool = True  # listed in /openapi.json and routed by the public gateway
    documented: bool = True  # False: routed by the gateway but left out of /openapi.json (the console's pages)
    query: dict[str, dict] = field(default_factory=dict)  # query parameter -> JSON schema (for /openapi.json)
    headers: dict[str, dict] = field(default_factory=dict)  # request header -> JSON schema (for /openapi.json)
    # The tier feature an api_key route needs (shared.accounts.tiers): a 403 TierError for tiers without it.
    feature: str | None = None

    @property
    def rule(self) -> str:
        return self.path.replace("{", "<").replace("}", ">")

    @property
    def operation(self) -> str:
        """The handler's name, known without importing it (OpenAPI's operationId)."""
        return self.handler.rpartition(":")[2]

    def resolve(self) -> Callable[..., Response]:
        handler: Callable[..., Response] = _resolve(self.handler)
        return handler


@cache
def _resolve(path: str) -> Any:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module if "." in module else f"functions.{module}"), name)


def model(path: str) -> type[pydantic.BaseModel]:
    """The pydantic model a route table entry names: "deployments:ScaleRequest" is in shared.schemas.deployments."""
    import pydantic  # only the spec needs it: kept off the health function's cold path

    module, _, name = path.partition(":")
    found = _resolve(path if "." in module else f"shared.schemas.{module}:{name}")
    assert isinstance(found, type) and issubclass(found, pydantic.BaseModel), path
    return found


@dataclass(frozen=True)
class Call:
    """What the router knows about one request once it has authenticated it as its route declares."""

    request: Request
    principal: Principal | None = None  # the API key's tenant on "api_key" routes
    rate_headers: Mapping[str, str] = field(default_factory=dict)  # RateLimit-* for the answer
    services: Services | None = None  # built by the router on authenticated routes

    @property
    def svc(self) -> Services:
        if self.services is not None:
            return self.services
        from shared.services import services  # "none" routes (health) build no services unless they ask

        return services()

    @property
    def owner(self) -> str:
        assert self.principal is not None, "only api_key routes have an owner"
        return self.principal.owner

    @property
    def tenant_id(self) -> str:
        assert self.principal is not None, "only api_key routes have a tenant"
        return self.principal.tenant_id

    def headers(self, **extra: str) -> dict[str, str]:
        """A fresh copy of the rate-limit headers (plus `extra`) for the response."""
        return {**self.rate_headers, **extra}


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
            route = self.routes[index]
            call = authenticate(route.auth, request, params, route.feature)
            return route.resolve()(call, **params)
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


def authenticate(auth: Auth, request: Request, params: Mapping[str, Any], feature: str | None = None) -> Call:
    """Enforce the route's declared auth (and the tier feature it needs) before its handler runs (after
    404/405 and invalid ids, as before)."""
    if auth == "none":
        return Call(request)
    # Imported here: the store, crypto and tenant modules stay off the "none" routes' cold path (health).
    from functions import security
    from shared.services import services

    svc = services()
    if auth == "api_key":
        principal, headers = security.api_principal(svc, request)
        if feature is not None:
            security.require_tier(svc, principal, feature, headers)
        return Call(request, principal, headers, svc)
    if auth == "admin" or (auth == "metrics" and not svc.settings.metrics_public):
        security.require_admin(svc, request)
    elif auth == "worker_secret":
        security.verify_worker(svc, request, params["deployment_id"])
    elif auth == "task":
        security.verify_task_caller(svc, request)
    elif auth != "metrics":  # pragma: no cover - Auth is a closed Literal (an open /metrics needs nothing)
        raise AssertionError(f"unknown auth {auth!r}")
    return Call(request, services=svc)


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
