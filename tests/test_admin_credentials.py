"""/admin/credentials (seed 004) end to end: the operator manages a tenant's credentials on the same encrypted
store as the tenant's /v1/credentials; another tenant never sees nor uses them; secrets never come back."""

from __future__ import annotations

import sqlite3

import pytest

from tests.e2e_support import create_body, wait_until

SEED_FIELDS = {"id", "tenant_id", "provider", "name", "is_default", "is_valid", "created_at"}


@pytest.fixture
def server(start_server, fakes):
    return start_server(env=fakes.env())


def tenant(server, name: str, tier: str = "pro") -> tuple[str, dict[str, str]]:
    tid = server.admin("POST", "/admin/tenants", json={"name": name, "email": f"{name}@example.com", "tier": tier})
    tid = tid.json()["id"]
    key = server.admin("POST", "/admin/api-keys", json={"tenant_id": tid, "name": "k"}).json()["key"]
    return tid, server.as_key(key)


def add(server, tenant_id: str, key: str, name: str = "Runpod Production", is_default: bool = True) -> dict:
    body = {"tenant_id": tenant_id, "provider": "runpod", "name": name, "is_default": is_default,
            "credentials": {"api_key": key}}  # fmt: skip
    created = server.admin("POST", "/admin/credentials", json=body)
    assert created.status_code == 201, created.text
    assert key not in created.text
    return dict(created.json())


def test_admin_manages_a_tenants_credentials_with_the_seeds_fields(server, fakes) -> None:
    tid, auth = tenant(server, "acme")
    cred = add(server, tid, "rpa_valid")
    assert set(cred) >= SEED_FIELDS and "secret" not in cred and "api_key" not in cred
    assert cred["tenant_id"] == tid and cred["is_default"] is True and cred["is_valid"] is None
    assert cred["provider"] == "runpod" and cred["name"] == "Runpod Production"
    bad = add(server, tid, "rpa_nope_nope", name="old", is_default=False)
    cid, q = cred["id"], {"tenant_id": tid}

    listed = server.admin("GET", "/admin/credentials", params=q).json()["data"]
    assert [c["id"] for c in listed] == [cid, bad["id"]] and all(c["tenant_id"] == tid for c in listed)
    assert server.admin("GET", f"/admin/credentials/{cid}", params=q).json()["masked_key"] == "rpa_****alid"
    assert server.admin("POST", f"/admin/credentials/{cid}/validate", params=q).json()["is_valid"] is True
    checked = server.admin("POST", f"/admin/credentials/{bad['id']}/validate", params=q).json()
    assert checked["is_valid"] is False and checked["validation_error"]

    # the tenant sees it on its own routes, and a deployment without a key uses the default
    assert [c["id"] for c in server.client.get("/v1/credentials", headers=auth).json()["data"]] == [cid, bad["id"]]
    dep_id = server.client.post("/v1/deployments", json=create_body(fakes, user_runpod_key=None), headers=auth)
    dep_id = dep_id.json()["deployment_id"]
    wait_until(lambda: server.client.get(f"/v1/deployments/{dep_id}", headers=auth).json()["status"] == "ready")

    # set default, replace the key (the deployment follows), delete refused while used
    made_default = server.admin("POST", f"/admin/credentials/{bad['id']}/default", params=q).json()
    assert made_default["is_default"] is True
    assert server.admin("GET", f"/admin/credentials/{cid}", params=q).json()["is_default"] is False
    replaced = server.admin("PUT", f"/admin/credentials/{cid}", params=q, json={"api_key": "rpa_test", "name": "new"})
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["masked_key"] == "****" and replaced.json()["name"] == "new"
    in_use = server.admin("DELETE", f"/admin/credentials/{cid}", params=q)
    assert in_use.status_code == 409 and in_use.json()["details"]["deployment_ids"] == [dep_id]

    # deleted: gone for the admin and for the tenant
    assert server.admin("DELETE", f"/admin/credentials/{bad['id']}", params=q).status_code == 204
    assert server.admin("GET", f"/admin/credentials/{bad['id']}", params=q).status_code == 404
    assert server.client.get(f"/v1/credentials/{bad['id']}", headers=auth).status_code == 404
    again = server.client.post("/v1/deployments", json=create_body(fakes, user_runpod_key=None,
                                                                    credential_id=bad["id"]), headers=auth)  # fmt: skip
    assert again.status_code == 422

    # no secret in the server's log or in plain text in the database
    with sqlite3.connect(server.data_dir / "orchestrator.db") as conn:
        blob = "".join(row[0] for row in conn.execute("SELECT doc FROM docs"))
    for plaintext in ("rpa_valid", "rpa_nope_nope"):
        assert plaintext not in server.log() and plaintext not in blob


def test_a_tenants_credential_is_never_visible_to_or_usable_by_another(server, fakes) -> None:
    a, _ = tenant(server, "alpha")
    b, b_auth = tenant(server, "beta")
    cid = add(server, a, "rpa_valid")["id"]
    qb = {"tenant_id": b}
    assert server.admin("GET", "/admin/credentials", params=qb).json()["data"] == []
    for method, path in (("GET", ""), ("DELETE", ""), ("POST", "/validate"), ("POST", "/default")):
        resp = server.admin(method, f"/admin/credentials/{cid}{path}", params=qb)
        assert resp.status_code == 404 and resp.json()["error"] == "NotFoundError", (method, path)
    put = server.admin("PUT", f"/admin/credentials/{cid}", params=qb, json={"api_key": "rpa_test"})
    assert put.status_code == 404
    assert server.client.get(f"/v1/credentials/{cid}", headers=b_auth).status_code == 404
    assert server.client.put(f"/v1/credentials/{cid}", json={"api_key": "rpa_x"}, headers=b_auth).status_code == 404
    used = server.client.post("/v1/deployments", json=create_body(fakes, user_runpod_key=None, credential_id=cid),
                              headers=b_auth)  # fmt: skip
    assert used.status_code == 422 and used.json()["details"] == {"field": "credential_id"}
    assert server.admin("GET", f"/admin/credentials/{cid}", params={"tenant_id": a}).status_code == 200


def test_admin_credentials_need_the_admin_token_and_a_tenant(server) -> None:
    tid, auth = tenant(server, "gamma")
    assert server.client.get("/admin/credentials", params={"tenant_id": tid}).status_code == 401
    assert server.client.get("/admin/credentials", params={"tenant_id": tid}, headers=auth).status_code == 401
    missing = server.admin("GET", "/admin/credentials")
    assert missing.status_code == 422 and missing.json()["details"] == {"field": "tenant_id"}
    assert server.admin("GET", "/admin/credentials", params={"tenant_id": "tenant_nobody"}).status_code == 404
    body = {"tenant_id": "tenant_nobody", "credentials": {"api_key": "rpa_valid"}}
    assert server.admin("POST", "/admin/credentials", json=body).status_code == 404
    assert server.admin("POST", "/admin/credentials", json={"tenant_id": tid}).status_code == 422
    # a free tenant's credentials are the operator's to manage (the tenant may not, seed 004's table)
    free, free_auth = tenant(server, "delta", tier="free")
    assert add(server, free, "rpa_valid")["tenant_id"] == free
    assert server.client.get("/v1/credentials", headers=free_auth).status_code == 403


def test_tenant_replaces_its_own_key_with_put(server, fakes) -> None:
    _, auth = tenant(server, "omega")
    cid = server.client.post("/v1/credentials", json={"api_key": "rpa_valid"}, headers=auth).json()["id"]
    dep_id = server.client.post("/v1/deployments", json=create_body(fakes, user_runpod_key=None), headers=auth)
    dep_id = dep_id.json()["deployment_id"]
    wait_until(lambda: server.client.get(f"/v1/deployments/{dep_id}", headers=auth).json()["status"] == "ready")
    put = server.client.put(f"/v1/credentials/{cid}", json={"api_key": "rpa_test", "name": "rotated"}, headers=auth)
    assert put.status_code == 200, put.text
    assert put.json()["masked_key"] == "****" and put.json()["name"] == "rotated"
    assert "rpa_test" not in put.text
    fakes.runpod.requests.clear()
    stopped = server.client.post(f"/v1/deployments/{dep_id}/stop", headers=auth)
    assert stopped.status_code == 200, stopped.text
    calls = [r for r in fakes.runpod.requests if r.path.startswith("/v2/")]
    assert calls and {r.headers["authorization"] for r in calls} == {"Bearer rpa_test"}
