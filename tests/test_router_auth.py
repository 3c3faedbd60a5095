"""The router enforces each route's declared `auth` before its handler runs, on every route of the table."""

from __future__ import annotations

import re

import pytest
from flask import Flask, Response

from functions.routes import ROUTES
from functions.routing import Call, Route, Router
from shared import services as services_mod
from shared.platform.settings import load_settings
from tests.conftest import ADMIN_TOKEN, API_KEY

WRONG = {
    "api_key": {"Authorization": "Bearer do_live_not-a-real-key"},
    "admin": {"X-Admin-Token": "not-the-admin-token-0123456789abcdef"},
    "worker_secret": {"X-Visgate-Internal-Secret": "not-the-secret"},
    "task": {"Authorization": "Bearer not-the-queue-token"},
}
RIGHT = {"api_key": {"Authorization": f"Bearer {API_KEY}"}, "admin": {"X-Admin-Token": ADMIN_TOKEN}}


def concrete(path: str) -> str:
    """A path with every parameter filled in with an id that could exist (so an invalid id is not the answer)."""
    return re.sub(r"\{(\w+)\}", lambda m: "swagger-ui.css" if m.group(1) == "filename" else f"x_{m.group(1)}", path)


@pytest.fixture
def server(start_server):
    # Wrong credentials on ~45 routes would otherwise trip the failed-authentication limiter (its own test).
    return start_server(env={"AUTH_FAILURES_PER_MINUTE": "100000"})


def test_every_route_refuses_missing_and_wrong_credentials_before_its_handler(server) -> None:
    """A body no handler accepts (not JSON) shows the refusal comes first: a handler would answer 415/422."""
    checked: dict[str, int] = {}
    for route in ROUTES:
        path = concrete(route.path)
        for label, headers in (("none", {}), ("wrong", WRONG.get(route.auth, {}))):
            r = server.client.request(
                route.method, path, content=b"not json", headers={**headers, "Content-Type": "application/json"}
            )
            where = (route.method, route.path, route.auth, label, r.status_code, r.text[:200])
            if route.auth == "none":
                assert r.status_code != 401 and r.status_code < 500, where
                continue
            assert r.status_code == 401, where
            assert r.json()["error"] == "UnauthorizedError", where
            assert not any(h.lower().startswith("ratelimit") for h in r.headers), where
            checked[f"{route.method} {route.path}"] = r.status_code
    assert len(checked) == len([r for r in ROUTES if r.auth != "none"]) >= 40, checked


def test_right_credentials_get_past_the_router_with_rate_headers(server) -> None:
    """With the right credentials the same request reaches the handler (a 4xx of its own, never a 401)."""
    for route in ROUTES:
        if route.auth not in RIGHT:
            continue
        r = server.client.request(
            route.method,
            concrete(route.path),
            content=b"not json",
            headers={**RIGHT[route.auth], "Content-Type": "application/json"},
        )
        assert r.status_code != 401 and r.status_code < 500, (route.method, route.path, r.status_code, r.text)
        if route.auth == "api_key" and r.status_code < 300:
            assert "RateLimit-Remaining" in r.headers, (route.method, route.path)


# ---- in process: a probe handler proves the handler is never called without credentials ----------------------

CALLS: list[Call] = []


def probe(call: Call, **params: str) -> Response:
    CALLS.append(call)
    return Response("probed", status=200)


@pytest.fixture
def probe_router(tmp_path):
    services_mod.install(services_mod.build(load_settings({"DATA_DIR": str(tmp_path), "API_KEYS": API_KEY})))
    routes = [
        Route("POST", f"/probe/{auth}/{{deployment_id}}", "api", "tests.test_router_auth:probe", "probe", auth=auth)
        for auth in ("none", "api_key", "admin", "worker_secret", "task")
    ]
    CALLS.clear()
    yield Router(routes)
    services_mod.install(None)


@pytest.mark.parametrize("auth", ["api_key", "admin", "worker_secret", "task"])
def test_probe_is_not_called_without_credentials(probe_router, auth) -> None:
    app = Flask(__name__)
    for headers in ({}, WRONG[auth]):
        with app.test_request_context(f"/probe/{auth}/dep_1", method="POST", headers=headers):
            from flask import request

            answer = probe_router.dispatch(request)
        assert answer.status_code == 401, (auth, headers)
    assert CALLS == []


def test_probe_gets_the_principal_and_rate_headers(probe_router) -> None:
    app = Flask(__name__)
    with app.test_request_context("/probe/api_key/dep_1", method="POST", headers=RIGHT["api_key"]):
        from flask import request

        answer = probe_router.dispatch(request)
    assert answer.status_code == 200
    (call,) = CALLS
    assert call.principal is not None and call.owner == call.principal.owner
    assert "RateLimit-Remaining" in call.rate_headers
    with app.test_request_context("/probe/none/dep_1", method="POST"):
        from flask import request

        assert probe_router.dispatch(request).status_code == 200
    assert CALLS[-1].principal is None


def test_every_handler_and_model_the_table_names_exists() -> None:
    """Names are resolved on first use; a typo must fail here, not on a function's first request."""
    from functions.routing import model

    for route in ROUTES:
        assert callable(route.resolve()), route.handler
        assert route.resolve().__name__ == route.operation
        for ref in [route.request, *route.responses.values()]:
            if ref is not None:
                model(ref)
