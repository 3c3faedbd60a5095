"""Tenants through the Flask app: isolation, bootstrap keys, webhook secrets, idempotency, failed authentications."""

from __future__ import annotations

import hashlib
from typing import Any

from functions.routes import ROUTER
from tests.e2e_support import OFFLINE_BODY
from tests.inprocess.conftest import InProcess, MakeInProcess, as_key


def boot_tenant(key: str) -> str:
    return "tenant_boot_" + hashlib.sha256(key.encode()).hexdigest()[:16]


def test_another_tenants_deployment_is_404_on_every_route(app: InProcess) -> None:
    mine = as_key(app.new_tenant_key("Mine"))
    theirs = as_key(app.new_tenant_key("Theirs"))
    dep_id = app.open("POST", "/v1/deployments", json=OFFLINE_BODY, headers=mine).json["deployment_id"]
    checked = []
    for route in ROUTER.routes:
        if route.auth != "api_key" or "{deployment_id}" not in route.path:
            continue
        path = route.path.replace("{deployment_id}", dep_id).replace("{delivery_id}", "whd_x").replace("{job_id}", "j")
        body: dict[str, Any] = {"min_replicas": 0, "max_replicas": 1} if path.endswith("/scale") else {"input": {}}
        r = app.open(route.method, path, headers=theirs, json=body if route.method == "POST" else None)
        assert r.status_code == 404, (route.method, route.path, r.status_code, r.text)
        assert r.json["error"] == "DeploymentNotFoundError"
        checked.append(f"{route.method} {route.path}")
    assert len(checked) >= 10, checked
    assert app.open("GET", "/v1/deployments", headers=theirs).json["data"] == []
    assert app.open("GET", f"/v1/deployments/{dep_id}", headers=mine).status_code == 200


def test_idempotency_key_returns_the_same_deployment(app: InProcess) -> None:
    first = app.post("/v1/deployments", json=OFFLINE_BODY, headers={"Idempotency-Key": "abc-1"})
    again = app.post("/v1/deployments", json=OFFLINE_BODY, headers={"Idempotency-Key": "abc-1"})
    assert first.status_code == again.status_code == 202
    assert first.json == again.json and again.headers["Idempotent-Replayed"] == "true"
    other = app.post("/v1/deployments", json={**OFFLINE_BODY, "gpu_tier": "auto"}, headers={"Idempotency-Key": "abc-1"})
    assert other.status_code == 409 and other.json["error"] == "ConflictError"
    assert len(app.get("/v1/deployments").json["data"]) == 1
    bad = app.post("/v1/deployments", json={"hf_model_id": 1}, headers={"Idempotency-Key": "abc-2"})
    assert bad.status_code == 422
    # another tenant may use the same key for its own deployment
    theirs = as_key(app.new_tenant_key())
    mine = app.open("POST", "/v1/deployments", json=OFFLINE_BODY, headers={**theirs, "Idempotency-Key": "abc-1"})
    assert mine.status_code == 202 and mine.json["deployment_id"] != first.json["deployment_id"]


def test_webhook_secret_is_per_tenant(app: InProcess) -> None:
    a = as_key(app.new_tenant_key("A"))
    b = as_key(app.new_tenant_key("B"))
    sa = app.open("GET", "/v1/webhooks/secret", headers=a).json["secret"]
    sb = app.open("GET", "/v1/webhooks/secret", headers=b).json["secret"]
    assert sa != sb and app.open("GET", "/v1/webhooks/secret", headers=a).json["secret"] == sa
    assert app.open("GET", "/v1/webhooks/secret").status_code == 401


def test_each_bootstrap_key_has_its_own_tenant_unless_told_otherwise(make_inprocess: MakeInProcess) -> None:
    keys = "key-one-0000000000,key-two-0000000000,team-a:key-three-000000,team-a:key-four-0000000"
    app = make_inprocess(env={"API_KEYS": keys})
    one, two, three, four = (as_key(k.rpartition(":")[2]) for k in keys.split(","))
    dep_id = app.open("POST", "/v1/deployments", json=OFFLINE_BODY, headers=one).json["deployment_id"]
    assert app.open("GET", f"/v1/deployments/{dep_id}", headers=one).status_code == 200
    assert app.open("GET", f"/v1/deployments/{dep_id}", headers=two).status_code == 404
    assert app.open("DELETE", f"/v1/deployments/{dep_id}", headers=two).status_code == 404
    assert app.open("GET", "/v1/deployments", headers=two).json["data"] == []
    shared = app.open("POST", "/v1/deployments", json=OFFLINE_BODY, headers=three).json["deployment_id"]
    assert app.open("GET", f"/v1/deployments/{shared}", headers=four).status_code == 200  # one tenant: team-a
    assert app.open("GET", f"/v1/deployments/{shared}", headers=one).status_code == 404
    tenants = {t["id"] for t in app.admin("GET", "/admin/tenants").json["data"]}
    assert {boot_tenant("key-one-0000000000"), boot_tenant("key-two-0000000000"), "team-a"} <= tenants


def test_suspending_or_deleting_a_bootstrap_tenant_stops_its_key_for_good(app: InProcess) -> None:
    tid = boot_tenant(app.api_key)
    assert app.admin("GET", f"/admin/tenants/{tid}").status_code == 200  # listed before its first use
    assert app.get("/v1/webhooks/secret").json["secret"].startswith("whsec_")
    assert app.admin("PATCH", f"/admin/tenants/{tid}", json={"status": "suspended"}).status_code == 200
    assert app.get("/v1/deployments").status_code == 401
    assert app.get("/v1/webhooks/secret").status_code == 401
    assert app.admin("PATCH", f"/admin/tenants/{tid}", json={"status": "active"}).status_code == 200
    assert app.get("/v1/deployments").status_code == 200
    assert app.admin("DELETE", f"/admin/tenants/{tid}").status_code == 204
    for _ in range(2):  # not re-created by the next request
        assert app.get("/v1/deployments").status_code == 401
        assert app.get("/v1/webhooks/secret").status_code == 401
    assert app.admin("GET", f"/admin/tenants/{tid}").status_code == 404
    assert tid not in {t["id"] for t in app.admin("GET", "/admin/tenants").json["data"]}
    assert app.admin("PATCH", f"/admin/tenants/{tid}", json={"status": "active"}).status_code == 404
    assert (app.svc.store.get("tenants", tid) or {})["status"] == "deleted"


def test_a_tenant_has_its_webhook_secret_from_creation(app: InProcess) -> None:
    tenant = app.admin("POST", "/admin/tenants", json={"name": "S", "email": "s@example.com"}).json
    assert (app.svc.store.get("tenants", tenant["id"]) or {})["webhook_secret"]


def test_failed_authentications_are_limited_per_client(make_inprocess: MakeInProcess) -> None:
    app = make_inprocess(env={"AUTH_FAILURES_PER_MINUTE": "5"})
    idle = as_key(app.new_tenant_key("Idle"))
    app.clock.to_start_of_a_minute()  # failures count per clock minute: the burst must not straddle two
    assert app.get("/v1/deployments").status_code == 200
    assert app.open("GET", "/v1/deployments").status_code == 401  # no credential at all: not counted
    statuses = [app.open("GET", "/v1/deployments", headers=as_key(f"guess-{i}")).status_code for i in range(4)]
    statuses.append(app.open("GET", "/admin/tenants", headers={"X-Admin-Token": "x" * 40}).status_code)
    assert statuses == [401] * 5, statuses
    limited = app.open("GET", "/v1/deployments", headers=as_key("guess-5"))
    assert limited.status_code == 429 and limited.json["error"] == "RateLimitError"
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    # A key not in use and the right admin token wait too: a guesser learns nothing until the minute ends.
    # The key used above keeps working (tests/test_redteam_auth.py: one guesser must not stop every tenant).
    assert app.open("GET", "/v1/deployments", headers=idle).status_code == 429
    assert app.get("/v1/deployments").status_code == 200
    assert app.admin("GET", "/admin/tenants").status_code == 429
