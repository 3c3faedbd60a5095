"""Seed 000's API contract through the Flask app: shapes, the error table, bad input, docs. No fakes needed."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import pytest

from functions.routes import ROUTES
from functions.routing import model
from tests.e2e_support import OFFLINE_BODY as BODY
from tests.inprocess.conftest import InProcess, MakeInProcess

ERROR_KEYS = {"error", "message", "details"}


def test_service_endpoints(app: InProcess) -> None:
    assert app.open("GET", "/health").json == {"status": "ok"}
    assert app.open("GET", "/").json == {"service": "deployment-orchestrator", "docs": "/docs"}
    assert app.open("GET", "/readiness").json == {"status": "ready"}


def test_create_and_get_have_the_seed_shape(app: InProcess) -> None:
    resp = app.post("/v1/deployments", json=BODY)
    assert resp.status_code == 202
    body = resp.json
    seed_create = {"deployment_id", "status", "model_id", "estimated_ready_seconds", "webhook_url", "created_at"}
    assert set(body) == seed_create | {"sandbox"}  # the seed's fields, plus the sandbox mark (issue 14)
    assert body["sandbox"] is False
    assert re.fullmatch(r"dep_\d{4}_[0-9a-f]{16}", body["deployment_id"])
    assert body["status"] == "validating" and body["model_id"] == BODY["hf_model_id"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", body["created_at"])
    got = app.get(f"/v1/deployments/{body['deployment_id']}").json
    seed_fields = {"deployment_id", "status", "runpod_endpoint_id", "endpoint_url", "gpu_allocated", "model_vram_gb",
                   "logs", "error", "created_at", "ready_at"}  # fmt: skip
    assert seed_fields <= set(got)
    assert got["logs"][0]["level"] == "INFO" and set(got["logs"][0]) == {"timestamp", "level", "message"}
    assert "rpa_test" not in resp.text + str(got)
    assert app.queue.names() == [f"{body['deployment_id']}:validate:1"]  # its first step is queued


def test_list_shows_the_callers_deployments_newest_first(app: InProcess) -> None:
    first, second = app.create(), app.create(hf_model_id="acme/tiny-llm")
    listed = app.get("/v1/deployments").json
    assert [d["deployment_id"] for d in listed["data"]] == [second, first] and listed["next_cursor"] is None
    by_model = app.get("/v1/deployments", query_string={"model_id": "acme/tiny-llm"}).json["data"]
    assert [d["deployment_id"] for d in by_model] == [second]
    for bad in ({"status": "nope"}, {"limit": "0"}, {"cursor": "garbage"}):
        resp = app.get("/v1/deployments", query_string=bad)
        assert resp.status_code == 422 and set(resp.json) == ERROR_KEYS, bad


def test_delete_answers_204_and_schedules_cleanup(app: InProcess) -> None:
    dep_id = app.create()
    resp = app.delete(f"/v1/deployments/{dep_id}")
    assert resp.status_code == 204 and resp.data == b""
    assert app.get(f"/v1/deployments/{dep_id}").json["status"] == "deleting"
    assert app.queue.names()[-1] == f"{dep_id}:cleanup:2"
    assert app.delete(f"/v1/deployments/{dep_id}").status_code == 204  # a repeated delete is fine


@pytest.mark.parametrize(
    ("headers", "path"),
    [({}, "/v1/deployments/dep_x"), ({"Authorization": "Bearer nope"}, "/v1/deployments/dep_x"),
     ({"Authorization": "Basic dGVzdA=="}, "/v1/deployments/dep_x"), ({"Authorization": "Bearer"}, "/v1/deployments")],
)  # fmt: skip
def test_401_unauthorized(app: InProcess, headers: dict[str, str], path: str) -> None:
    method = "POST" if path == "/v1/deployments" else "GET"
    resp = app.open(method, path, headers=headers, json=BODY)
    assert resp.status_code == 401
    assert resp.json == {"error": "UnauthorizedError", "message": "Missing or invalid API key", "details": {}}


def test_404_unknown_deployment(app: InProcess) -> None:
    for method in ("GET", "DELETE"):
        resp = app.request(method, "/v1/deployments/dep_fake_123")
        assert resp.status_code == 404
        assert resp.json["error"] == "DeploymentNotFoundError" and set(resp.json) == ERROR_KEYS


@pytest.mark.parametrize(
    "change",
    [
        {"model_name": "veo3"},  # both forms
        {"hf_model_id": None},  # neither form
        {"user_webhook_url": "not a url"},
        {"user_webhook_url": "ftp://example.com/x"},
        {"user_webhook_url": "https://user:pw@example.com/x"},
        {"hf_model_id": "../../etc/passwd"},
        {"hf_model_id": "a" * 300},
        {"user_runpod_key": ""},
        {"user_runpod_key": None},
        {"gpu_tier": "TPU9000"},
        {"gpu_tier": 5},
        {"unexpected": "field"},
        {"hf_model_id": None, "model_name": "no-such-model", "provider": "fal"},
        {"provider": "fal"},  # provider without model_name
    ],
)
def test_422_validation(app: InProcess, change: dict[str, Any]) -> None:
    body = {**BODY, **change}
    body = {k: v for k, v in body.items() if v is not None}
    resp = app.post("/v1/deployments", json=body)
    assert resp.status_code == 422, resp.text
    err = resp.json
    assert err["error"] == "ValidationError" and err["message"] and isinstance(err["details"], dict)
    assert "rpa_test" not in resp.text
    assert app.queue.tasks == []  # nothing was created


def test_unknown_model_name_lists_what_is_known(app: InProcess) -> None:
    body = {**BODY, "model_name": "nope", "provider": "fal"}
    del body["hf_model_id"]
    err = app.post("/v1/deployments", json=body).json
    assert "unknown model_name" in err["message"] and "veo3" in err["details"]["known_model_names"]


@pytest.mark.parametrize(
    ("content", "ctype", "status"),
    [(b"{not json", "application/json", 422), (b"[1,2]", "application/json", 422), (b"", "application/json", 422),
     (b"hf_model_id=x", "application/x-www-form-urlencoded", 415), (b"x" * 70000, "application/json", 413)],
    ids=["not-json", "array", "empty", "form", "too-large"],
)  # fmt: skip
def test_malformed_bodies_are_4xx_in_the_error_shape(app: InProcess, content: bytes, ctype: str, status: int) -> None:
    resp = app.post("/v1/deployments", data=content, headers={"Content-Type": ctype})
    assert resp.status_code == status
    assert set(resp.json) == ERROR_KEYS


def test_unknown_routes_and_methods(app: InProcess) -> None:
    resp = app.open("GET", "/v2/nothing")
    assert resp.status_code == 404 and resp.json["error"] == "NotFoundError"
    resp = app.request("PUT", "/v1/deployments/dep_x")
    assert resp.status_code == 405 and resp.json["error"] == "MethodNotAllowedError"


def test_step_endpoint_refuses_callers_other_than_the_queue(app: InProcess) -> None:
    resp = app.open("POST", "/internal/steps", json={"kind": "step", "deployment_id": "x", "step": "cleanup", "seq": 1})
    assert resp.status_code == 401


def test_internal_callback_for_unknown_deployment_is_401_without_secret(app: InProcess) -> None:
    resp = app.open("POST", "/internal/deployment-ready/dep_nope", json={"status": "ready"})
    assert resp.status_code == 401


def test_openapi_is_generated_and_docs_are_served(app: InProcess) -> None:
    spec = app.open("GET", "/openapi.json").json
    assert spec["openapi"].startswith("3.1")
    create = spec["paths"]["/v1/deployments"]["post"]
    schema_ref = create["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert schema_ref.endswith("CreateDeploymentRequest")
    props = spec["components"]["schemas"]["CreateDeploymentRequest"]["properties"]
    assert {"hf_model_id", "model_name", "provider", "user_runpod_key", "user_webhook_url", "gpu_tier"} <= set(props)
    assert "/internal/steps" not in spec["paths"]
    page = app.open("GET", "/docs")
    assert page.status_code == 200 and "swagger-ui-bundle.js" in page.text
    asset = app.open("GET", "/docs/static/swagger-ui-bundle.js")
    assert asset.status_code == 200 and len(asset.data) > 100_000


def test_openapi_schema_names_are_plain_and_unique(app: InProcess) -> None:
    # Two bodies with one class name get module paths in their names (functions__admin__ModelList).
    names = list(app.open("GET", "/openapi.json").json["components"]["schemas"])
    assert len(names) > 40 and [n for n in names if not re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", n)] == []
    bodies = {model(m) for r in ROUTES if r.public for m in (r.request, *r.responses.values()) if m is not None}
    assert [name for name, n in Counter(m.__name__ for m in bodies).items() if n > 1] == []
    assert {"ModelList", "RegistryEntryList"} <= set(names)  # GET /v1/models and GET /admin/models


def test_rate_limit_is_429_with_retry_after(make_inprocess: MakeInProcess) -> None:
    app = make_inprocess(env={"RATE_LIMIT_PER_MINUTE": "5"})
    app.clock.to_start_of_a_minute()  # the limit counts per clock minute: the burst must not straddle two
    statuses = [app.get("/v1/deployments/dep_x").status_code for _ in range(7)]
    assert statuses[:5] == [404] * 5 and statuses[5:] == [429, 429]
    resp = app.get("/v1/deployments/dep_x")
    assert resp.json["error"] == "RateLimitError"
    assert 1 <= int(resp.headers["Retry-After"]) <= 60
    assert resp.headers["RateLimit-Limit"] == "5"
    assert app.open("GET", "/health").status_code == 200  # liveness is not rate limited
    app.clock.advance(60)
    assert app.get("/v1/deployments/dep_x").status_code == 404  # a new minute, a new allowance
