"""A tenant's status reaches its deployments: suspension pauses them, reactivation resumes what it paused, deletion
is refused while anything is left (or cascades with ?force=true). Issue 11 item 1."""

from __future__ import annotations

import json
import sqlite3

import httpx
import pytest

from tests.e2e_support import create_body, wait_until


@pytest.fixture
def server(start_server, fakes):
    return start_server(env={**fakes.env(), "RECONCILE_INTERVAL_SECONDS": "1"})


def new_tenant(server, name: str) -> tuple[str, dict[str, str]]:
    tenant = server.admin(
        "POST", "/admin/tenants", json={"name": name, "email": f"{name.lower()}@example.com", "tier": "pro"}
    )
    assert tenant.status_code == 201, tenant.text
    tid = tenant.json()["id"]
    key = server.admin("POST", f"/admin/tenants/{tid}/api-keys", json={"name": "k"}).json()["key"]
    return tid, server.as_key(key)


def create(server, fakes, headers, **overrides) -> str:
    resp = httpx.post(f"{server.base_url}/v1/deployments", json=create_body(fakes, **overrides), headers=headers)
    assert resp.status_code == 202, resp.text
    return resp.json()["deployment_id"]


def settled_ready(server, dep_id: str) -> dict:
    server.wait_status(dep_id, "ready")
    wait_until(lambda: server.deployment(dep_id)["steps"][-1]["state"] == "succeeded")
    return server.deployment(dep_id)


def workers(fakes, endpoint_id: str) -> tuple[int, int]:
    w = fakes.runpod.endpoints[endpoint_id]["workers"]
    return w["min"], w["max"]


def test_suspension_pauses_and_reactivation_resumes_only_what_it_paused(server, fakes) -> None:
    tid, headers = new_tenant(server, "Acme")
    server.api_key = headers["Authorization"].removeprefix("Bearer ")  # server.post/deployment act as Acme
    serving = settled_ready(server, create(server, fakes, headers, min_replicas=1, max_replicas=2))
    user_paused = settled_ready(server, create(server, fakes, headers))
    assert server.post(f"/v1/deployments/{user_paused['deployment_id']}/stop").status_code == 200
    fakes.runpod.set_worker_state("initializing")  # this one is still being set up at suspension
    provisioning = create(server, fakes, headers)
    server.wait_status(provisioning, "downloading_model")

    suspended = server.admin("PATCH", f"/admin/tenants/{tid}", json={"status": "suspended"})
    assert suspended.status_code == 200 and suspended.json()["status"] == "suspended"
    assert workers(fakes, serving["runpod_endpoint_id"]) == (0, 0)
    assert workers(fakes, user_paused["runpod_endpoint_id"]) == (0, 0)

    fakes.runpod.set_worker_state("auto")
    prov_ep = _stored(server, provisioning)["runpod_endpoint_id"]
    wait_until(lambda: _stored(server, provisioning)["steps"][-1] == {**_stored(server, provisioning)["steps"][-1],
               "name": "finalize", "state": "succeeded"}, message="the provisioning one never finished")  # fmt: skip
    assert _stored(server, provisioning)["status"] == "paused"
    assert workers(fakes, prov_ep) == (0, 0)
    assert _stored(server, serving["deployment_id"])["paused_reason"] == "tenant_suspended"
    assert _stored(server, user_paused["deployment_id"])["paused_reason"] == "user"

    resumed = server.admin("PATCH", f"/admin/tenants/{tid}", json={"status": "active"})
    assert resumed.status_code == 200
    assert workers(fakes, serving["runpod_endpoint_id"]) == (1, 2)
    assert workers(fakes, prov_ep) == (0, 1)
    assert _stored(server, serving["deployment_id"])["status"] == "ready"
    assert _stored(server, provisioning)["status"] == "ready"
    assert _stored(server, user_paused["deployment_id"])["status"] == "paused", "the user's pause is kept"
    assert workers(fakes, user_paused["runpod_endpoint_id"]) == (0, 0)


def _stored(server, dep_id: str) -> dict:
    """The deployment as stored (its tenant's key no longer works once suspended or deleted)."""
    with sqlite3.connect(server.data_dir / "orchestrator.db") as db:
        (doc,) = db.execute("SELECT doc FROM docs WHERE collection='deployments' AND id=?", (dep_id,)).fetchone()
    return json.loads(doc)


def test_deleting_a_tenant_with_deployments_is_refused_then_cascades_with_force(server, fakes) -> None:
    tid, headers = new_tenant(server, "Beta")
    dep_id = create(server, fakes, headers, deployment_name="beta")
    ep = _wait_endpoint(server, dep_id)
    cred = httpx.post(f"{server.base_url}/v1/credentials", headers=headers,
                      json={"name": "main", "api_key": "rpa_test"})  # fmt: skip
    assert cred.status_code == 201, cred.text

    refused = server.admin("DELETE", f"/admin/tenants/{tid}")
    assert refused.status_code == 409, refused.text
    details = refused.json()["details"]
    assert details["deployments"] == [dep_id] and details["credentials"] == [cred.json()["id"]]
    assert server.admin("GET", f"/admin/tenants/{tid}").status_code == 200

    assert server.admin("DELETE", f"/admin/tenants/{tid}", params={"force": "true"}).status_code == 204
    assert server.admin("GET", f"/admin/tenants/{tid}").status_code == 404
    wait_until(lambda: _stored(server, dep_id)["status"] == "deleted", message="the deployment was not deleted")
    assert ep not in fakes.runpod.endpoints and fakes.runpod.live_endpoints() == []
    with sqlite3.connect(server.data_dir / "orchestrator.db") as db:
        left = db.execute("SELECT count(*) FROM docs WHERE collection='credentials'").fetchone()[0]
    assert left == 0


def test_a_forced_delete_still_cleans_up_deployments_that_use_a_stored_credential(server, fakes) -> None:
    tid, headers = new_tenant(server, "Delta")
    cred = httpx.post(
        f"{server.base_url}/v1/credentials", headers=headers, json={"name": "main", "api_key": "rpa_test"}
    )
    assert cred.status_code == 201, cred.text
    dep_id = create(server, fakes, headers, user_runpod_key=None, credential_id=cred.json()["id"])
    ep = _wait_endpoint(server, dep_id)
    assert _stored(server, dep_id)["credential_id"] == cred.json()["id"]

    assert server.admin("DELETE", f"/admin/tenants/{tid}", params={"force": "true"}).status_code == 204
    wait_until(lambda: _stored(server, dep_id)["status"] == "deleted", message="the deployment was not deleted")
    assert ep not in fakes.runpod.endpoints
    with sqlite3.connect(server.data_dir / "orchestrator.db") as db:
        assert db.execute("SELECT count(*) FROM docs WHERE collection='credentials'").fetchone()[0] == 0


def test_deleting_a_tenant_with_nothing_left_is_allowed(server, fakes) -> None:
    tid, _ = new_tenant(server, "Gamma")
    assert server.admin("DELETE", f"/admin/tenants/{tid}").status_code == 204


def _wait_endpoint(server, dep_id: str) -> str:
    wait_until(lambda: _stored(server, dep_id).get("runpod_endpoint_id"), message="no endpoint was created")
    return _stored(server, dep_id)["runpod_endpoint_id"]
