"""A create that races with the admin deleting or suspending its tenant must not leave a deployment
billing for a tenant that no longer exists or is suspended.

The create passes authentication just before the admin call, the admin's cascade lists the tenant's
deployments before the create's insert lands: the new deployment is missed by the cascade. The race
itself has no point a fake can hold (no outside call between the two), so the test writes the state
it leaves (the tenant's record already deleted or suspended, its new deployment live) and expects the
reconciler to bring the deployment in line.
"""

from __future__ import annotations

import json
import sqlite3

from tests.e2e_support import create_body, wait_until


def _set_tenant_status(server, tenant_id: str, status: str) -> None:
    with sqlite3.connect(server.data_dir / "orchestrator.db") as conn:
        (doc,) = conn.execute("SELECT doc FROM docs WHERE collection='tenants' AND id=?", (tenant_id,)).fetchone()
        conn.execute(
            "UPDATE docs SET doc=? WHERE collection='tenants' AND id=?",
            (json.dumps({**json.loads(doc), "status": status}), tenant_id),
        )


def _stored(server, dep_id: str) -> dict:
    with sqlite3.connect(server.data_dir / "orchestrator.db") as conn:
        (doc,) = conn.execute("SELECT doc FROM docs WHERE collection='deployments' AND id=?", (dep_id,)).fetchone()
    return json.loads(doc)


def _tenant_with_ready_deployment(server, fakes, name: str) -> tuple[str, str, str]:
    tenant = server.admin(
        "POST", "/admin/tenants", json={"name": name, "email": f"{name}@example.com", "tier": "pro"}
    ).json()["id"]
    key = server.admin("POST", f"/admin/tenants/{tenant}/api-keys", json={"name": "k"}).json()["key"]
    dep_id = server.client.post("/v1/deployments", json=create_body(fakes), headers=server.as_key(key)).json()[
        "deployment_id"
    ]
    finalized = lambda: any(s["name"] == "finalize" and s["state"] == "succeeded"  # noqa: E731
                            for s in _stored(server, dep_id)["steps"])  # fmt: skip
    wait_until(finalized)
    return tenant, dep_id, _stored(server, dep_id)["runpod_endpoint_id"]


def test_the_reconciler_deletes_a_deployment_its_deleted_tenant_missed(start_server, fakes) -> None:
    server = start_server(env={**fakes.env(), "RECONCILE_INTERVAL_SECONDS": "0.5"})
    tenant, dep_id, endpoint = _tenant_with_ready_deployment(server, fakes, "gone")
    _set_tenant_status(server, tenant, "deleted")  # the cascade ran before this deployment was written
    wait_until(lambda: _stored(server, dep_id)["status"] == "deleted", 30, "still live for a deleted tenant")
    assert endpoint not in fakes.runpod.endpoints


def test_the_reconciler_pauses_a_deployment_its_suspended_tenant_missed(start_server, fakes) -> None:
    server = start_server(env={**fakes.env(), "RECONCILE_INTERVAL_SECONDS": "0.5"})
    tenant, dep_id, endpoint = _tenant_with_ready_deployment(server, fakes, "paused")
    _set_tenant_status(server, tenant, "suspended")
    wait_until(lambda: _stored(server, dep_id)["status"] == "paused", 30, "still serving for a suspended tenant")
    assert _stored(server, dep_id)["paused_reason"] == "tenant_suspended"
    wait_until(lambda: fakes.runpod.endpoints[endpoint]["workers"]["max"] == 0)
    assert server.admin("PATCH", f"/admin/tenants/{tenant}", json={"status": "active"}).status_code == 200
    assert _stored(server, dep_id)["status"] == "ready"  # reactivating resumes it, as for the cascade's own
