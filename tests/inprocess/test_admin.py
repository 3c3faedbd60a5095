"""The admin API: its token, tenants and their keys, through the Flask app."""

from __future__ import annotations

import json

from tests.conftest import API_KEY
from tests.inprocess.conftest import InProcess, MakeInProcess, as_key


def test_admin_routes_need_the_admin_token(app: InProcess) -> None:
    for headers in ({}, {"X-Admin-Token": "wrong"}, as_key(API_KEY)):
        r = app.open("GET", "/admin/tenants", headers=headers)
        assert r.status_code == 401 and r.json["error"] == "UnauthorizedError"
    assert app.admin("GET", "/admin/tenants").status_code == 200


def test_admin_is_off_without_an_admin_token(make_inprocess: MakeInProcess) -> None:
    app = make_inprocess(env={"ADMIN_TOKEN": ""})
    assert app.admin("GET", "/admin/tenants").status_code == 401


def test_tenant_and_key_lifecycle(app: InProcess) -> None:
    created = app.admin("POST", "/admin/tenants", json={"name": "Acme", "email": "ops@acme.io", "tier": "pro"})
    assert created.status_code == 201
    tenant = created.json
    assert (
        set(tenant) == {"id", "name", "email", "tier", "status", "created_at", "budget", "budget_state"}
        and tenant["status"] == "active"
    )
    tid = tenant["id"]
    key = app.admin("POST", f"/admin/tenants/{tid}/api-keys", json={"name": "ci"}).json
    assert key["key"].startswith("do_live_") and len(key["key"]) > 40
    listed = app.admin("GET", f"/admin/tenants/{tid}/api-keys").json["data"]
    assert [k["id"] for k in listed] == [key["id"]] and "key" not in listed[0]
    assert key["key"] not in json.dumps(listed)
    auth = as_key(key["key"])
    assert app.open("GET", "/v1/deployments", headers=auth).status_code == 200
    # seed 004's form of key creation
    other = app.admin("POST", "/admin/api-keys", json={"tenant_id": tid, "name": "second"}).json["key"]
    assert app.open("GET", "/v1/deployments", headers=as_key(other)).status_code == 200

    assert app.admin("PATCH", f"/admin/tenants/{tid}", json={"status": "suspended"}).json["status"] == "suspended"
    assert app.open("GET", "/v1/deployments", headers=auth).status_code == 401
    app.admin("PATCH", f"/admin/tenants/{tid}", json={"status": "active"})
    assert app.open("GET", "/v1/deployments", headers=auth).status_code == 200
    assert app.admin("DELETE", f"/admin/tenants/{tid}/api-keys/{key['id']}").status_code == 204
    assert app.open("GET", "/v1/deployments", headers=auth).status_code == 401
    assert app.open("GET", "/v1/deployments", headers=as_key(other)).status_code == 200
    assert app.admin("DELETE", f"/admin/tenants/{tid}").status_code == 204
    assert app.open("GET", "/v1/deployments", headers=as_key(other)).status_code == 401
    assert app.admin("GET", f"/admin/tenants/{tid}").status_code == 404
    bad = app.admin("POST", "/admin/tenants", json={"name": "x", "email": "not-an-email"})
    assert bad.status_code == 422
