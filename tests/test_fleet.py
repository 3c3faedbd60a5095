"""The operator's fleet end to end (/admin/deployments and seed 004's /admin/nodes): every tenant's
deployments with filters and pages, for the admin only; terminate whoever owns it, and purge only once the
endpoint is verified gone (deferred while it exists, never after a failed delete); a foreign endpoint in the
same Runpod account untouched; admin logs and stream; launches need a usable key; hostile input is a 4xx."""

from __future__ import annotations

import httpx
import pytest
from httpx_sse import connect_sse

from shared.clients.runpod import RunpodClient, RunpodConfig
from tests.conftest import ADMIN_TOKEN
from tests.e2e_support import SDXL, Fakes, create_body, wait_until

ADMIN = {"X-Admin-Token": ADMIN_TOKEN}


@pytest.fixture
def server(start_server, fakes):
    return start_server(env={**fakes.env(), "CLEANUP_MAX_ATTEMPTS": "1"})


def tenant(server, name: str, tier: str = "enterprise") -> tuple[str, dict[str, str]]:
    tid = server.admin("POST", "/admin/tenants", json={"name": name, "email": f"{name}@example.com", "tier": tier})
    tid = tid.json()["id"]
    key = server.admin("POST", "/admin/api-keys", json={"tenant_id": tid, "name": "k"}).json()["key"]
    return tid, server.as_key(key)


def deploy(server, fakes: Fakes, auth: dict[str, str], **overrides) -> str:
    created = server.client.post("/v1/deployments", json=create_body(fakes, **overrides), headers=auth)
    assert created.status_code == 202, created.text
    return str(created.json()["deployment_id"])


def status(server, dep_id: str) -> str:
    return str(server.admin("GET", f"/admin/deployments/{dep_id}").json()["status"])


def finalized(server, dep_id: str) -> bool:
    steps = server.admin("GET", f"/admin/deployments/{dep_id}").json()["steps"]
    return bool(steps) and steps[-1]["name"] == "finalize" and steps[-1]["state"] == "succeeded"


def plant(fakes: Fakes, name: str) -> str:
    """An endpoint made in the same Runpod account outside the server under test (the operator's own)."""
    config = RunpodConfig(fakes.runpod.base_url, fakes.runpod.base_url, 5)
    body = {"type": "QUEUE", "image": "x/y:1", "scaling": {"type": "QUEUE_DELAY", "queueDelay": 4},
            "gpu": {"pools": ["ADA_24"]}, "name": name}  # fmt: skip
    with RunpodClient("rpa_test", config) as client:
        return str(client.create_endpoint(body)["id"])


def live(fakes: Fakes, endpoint_id: str) -> bool:
    with fakes.runpod.lock:
        return endpoint_id in fakes.runpod.endpoints


def test_the_fleet_lists_every_tenants_deployments_with_filters_and_pages(server, fakes) -> None:
    a, a_auth = tenant(server, "alpha")
    b, b_auth = tenant(server, "beta")
    a1 = deploy(server, fakes, a_auth)
    b1 = deploy(server, fakes, b_auth, gpu_tier="AMPERE_24")
    a2 = deploy(server, fakes, a_auth, hf_model_id="acme/tiny-llm", gpu_tier="auto")
    for dep_id in (a1, b1, a2):
        wait_until(lambda d=dep_id: status(server, d) == "ready", timeout=60)

    def ids(**params) -> list[str]:
        resp = server.admin("GET", "/admin/deployments", params=params)
        assert resp.status_code == 200, resp.text
        return [d["deployment_id"] for d in resp.json()["data"]]

    assert ids() == [a2, b1, a1]  # newest first, every tenant
    assert ids(tenant_id=a) == [a2, a1] and ids(tenant_id=b) == [b1]
    assert ids(status="ready") == [a2, b1, a1] and ids(status="failed") == []
    assert ids(model=SDXL) == [b1, a1] and ids(model=SDXL, tenant_id=a) == [a1]
    assert ids(gpu="A40") == [a1] and ids(gpu="AMPERE_24") == [b1] and ids(gpu="RTX A5000", tenant_id=b) == [b1]
    listed = server.admin("GET", "/admin/deployments", params={"tenant_id": b}).json()["data"]
    assert listed[0]["tenant_id"] == b and listed[0]["gpu_allocated"] == "AMPERE_24"
    # pages of one: all of them once, in order
    seen, cursor = [], None
    while True:
        page = server.admin("GET", "/admin/deployments", params={"limit": 1, **({"cursor": cursor} if cursor else {})})
        seen += [d["deployment_id"] for d in page.json()["data"]]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert seen == [a2, b1, a1]
    # the same fleet as seed 004's nodes
    nodes = server.admin("GET", "/admin/nodes", params={"tenant_id": a}).json()["data"]
    assert [(n["id"], n["status"], n["tenant_id"]) for n in nodes] == [(a2, "active", a), (a1, "active", a)]
    one = server.admin("GET", f"/admin/deployments/{b1}").json()
    assert one["tenant_id"] == b and one["status"] == "ready" and one["purge_requested"] is False
    # for the admin only: tenants' keys and no key are refused, a tenant sees only its own
    for headers in ({}, a_auth, b_auth):
        for path in ("/admin/deployments", f"/admin/deployments/{b1}", "/admin/nodes", f"/admin/nodes/{a1}",
                     f"/admin/deployments/{b1}/logs", f"/admin/nodes/{b1}/logs/stream"):  # fmt: skip
            assert server.client.get(path, headers=headers).status_code == 401, (path, headers)
        assert server.client.post(f"/admin/deployments/{b1}/terminate", headers=headers).status_code == 401
    assert [d["deployment_id"] for d in server.client.get("/v1/deployments", headers=a_auth).json()["data"]] == [a2, a1]
    assert server.client.get(f"/v1/deployments/{b1}", headers=a_auth).status_code == 404
    assert status(server, b1) == "ready", "a refused terminate changed nothing"


def test_terminate_and_purge_whoever_owns_it_leaving_foreign_endpoints(server, fakes) -> None:
    _, auth = tenant(server, "gamma")
    dep_id = deploy(server, fakes, auth)
    wait_until(lambda: finalized(server, dep_id), timeout=60)
    endpoint_id = server.admin("GET", f"/admin/deployments/{dep_id}").json()["runpod_endpoint_id"]
    foreign = plant(fakes, "operators-own-app")

    # the delete is held at Runpod: the endpoint still exists, so the purge waits (the record stays)
    hold = fakes.runpod.hold_next("DELETE", "/v2/")
    resp = server.admin("POST", f"/admin/deployments/{dep_id}/terminate", params={"purge": "true"})
    assert resp.status_code == 202, resp.text
    assert resp.json()["purge"] == "pending" and resp.json()["status"] == "terminating"
    assert hold.arrived.wait(20)
    held = server.admin("GET", f"/admin/deployments/{dep_id}")
    assert held.status_code == 200 and held.json()["purge_requested"] is True and held.json()["status"] == "deleting"
    assert live(fakes, endpoint_id)
    assert server.admin("GET", f"/admin/deployments/{dep_id}/logs").status_code == 200
    assert server.client.get(f"/v1/deployments/{dep_id}", headers=auth).json()["status"] == "deleting"
    hold.release()

    # once verified gone, the record and its logs go; the foreign endpoint was never touched
    wait_until(lambda: server.admin("GET", f"/admin/deployments/{dep_id}").status_code == 404, timeout=30)
    assert not live(fakes, endpoint_id) and live(fakes, foreign)
    assert server.admin("GET", f"/admin/deployments/{dep_id}/logs").status_code == 404
    assert server.client.get(f"/v1/deployments/{dep_id}", headers=auth).status_code == 404
    assert server.admin("POST", f"/admin/deployments/{dep_id}/terminate").status_code == 404

    # without purge the record stays, terminated; a later purge removes it at once
    kept = deploy(server, fakes, auth)
    wait_until(lambda: finalized(server, kept), timeout=60)
    ended = server.admin("POST", f"/admin/nodes/{kept}/terminate")
    assert ended.status_code == 200 and ended.json()["purge"] == "none"
    wait_until(lambda: server.admin("GET", f"/admin/nodes/{kept}").json()["status"] == "terminated", timeout=30)
    assert server.admin("GET", f"/admin/nodes/{kept}").json()["deployment_status"] == "deleted"
    purged = server.admin("POST", f"/admin/nodes/{kept}/terminate", params={"purge": "true"})
    assert purged.json() | {"status": "terminated", "deployment_status": "deleted", "purge": "done"} == purged.json()
    assert server.admin("GET", f"/admin/nodes/{kept}").status_code == 404
    assert live(fakes, foreign)


def test_a_purge_after_a_failed_delete_keeps_the_record(server, fakes) -> None:
    _, auth = tenant(server, "delta")
    dep_id = deploy(server, fakes, auth)
    wait_until(lambda: finalized(server, dep_id), timeout=60)
    endpoint_id = server.admin("GET", f"/admin/deployments/{dep_id}").json()["runpod_endpoint_id"]
    fakes.runpod.fail_next("DELETE", "/v2/", "status", count=1000, status=500)
    resp = server.admin("POST", f"/admin/nodes/{dep_id}/terminate", params={"purge": "true"})
    assert resp.status_code == 200 and resp.json()["purge"] == "pending"
    wait_until(lambda: status(server, dep_id) == "cleanup_failed", timeout=60)
    # asked again while Runpod still fails: the delete is retried, the record is never lost
    again = server.admin("POST", f"/admin/nodes/{dep_id}/terminate", params={"purge": "true"})
    assert again.status_code == 200 and again.json()["purge"] == "pending"
    wait_until(lambda: status(server, dep_id) == "cleanup_failed", timeout=60)
    shown = server.admin("GET", f"/admin/deployments/{dep_id}").json()
    assert shown["purge_requested"] is True and shown["deletion"]["state"] == "failed"
    assert server.admin("GET", f"/admin/nodes/{dep_id}").json()["status"] == "terminating"
    assert server.admin("GET", f"/admin/nodes/{dep_id}/logs").status_code == 200
    assert live(fakes, endpoint_id)
    # Runpod recovers: the next terminate deletes, verifies and purges
    fakes.runpod.scripted.pending.clear()
    server.admin("POST", f"/admin/nodes/{dep_id}/terminate", params={"purge": "true"})
    wait_until(lambda: server.admin("GET", f"/admin/nodes/{dep_id}").status_code == 404, timeout=30)
    assert not live(fakes, endpoint_id)


def test_admin_logs_and_stream_of_any_tenants_deployment(server, fakes) -> None:
    _, auth = tenant(server, "epsilon")
    fakes.runpod.ready_after_seconds = 0.5
    dep_id = deploy(server, fakes, auth)
    wait_until(lambda: status(server, dep_id) == "ready", timeout=60)
    lines = server.admin("GET", f"/admin/deployments/{dep_id}/logs", params={"tail": 1000}).json()["data"]
    own = server.client.get(f"/v1/deployments/{dep_id}/logs", params={"tail": 1000}, headers=auth).json()["data"]
    assert lines and [x["id"] for x in lines] == [x["id"] for x in own][: len(lines)]

    def read(path: str, last: str | None = None) -> list:
        headers = {**ADMIN, **({"Last-Event-ID": last} if last else {})}
        with (
            httpx.Client(base_url=server.base_url, timeout=30) as client,
            connect_sse(client, "GET", path, headers=headers) as src,
        ):
            assert src.response.status_code == 200
            return [e for e in src.iter_sse() if e.data]

    events = read(f"/admin/deployments/{dep_id}/logs/stream")
    assert events[-1].event == "done" and events[-1].json()["status"] == "ready"  # the tenant stream's shape
    logged = [e for e in events if e.event == "log"]
    resumed = read(f"/admin/deployments/{dep_id}/logs/stream", last=logged[1].id)
    assert [e.id for e in resumed if e.event == "log"][: len(logged) - 2] == [e.id for e in logged[2:]]
    node = read(f"/admin/nodes/{dep_id}/logs/stream")
    assert node[-1].json() | {"status": "active", "message": "Node ready"} == node[-1].json()
    assert node[-1].json()["endpoint"]
    # the same lines (more may have landed after the first read's `done`: finalize's, the webhook's)
    assert [e.id for e in node if e.event == "log"][: len(logged)] == [e.id for e in logged]
    bad = server.client.get(f"/admin/deployments/{dep_id}/logs/stream", headers={**ADMIN, "Last-Event-ID": "nonsense"})
    assert bad.status_code == 422


def test_launches_need_a_usable_key(server, fakes) -> None:
    tid, auth = tenant(server, "zeta", tier="free")
    for body in ({"model": SDXL}, {"model": SDXL, "tenant_id": tid}):
        refused = server.admin("POST", "/admin/nodes/launch", json=body)
        assert refused.status_code == 422, refused.text
        assert refused.json()["error"] == "ValidationError" and "OPERATOR_RUNPOD_API_KEY" in refused.json()["message"]
    orphan = server.admin("POST", "/admin/nodes/launch", json={"model": SDXL, "credential_id": "cred_x"})
    assert orphan.status_code == 422 and orphan.json()["details"] == {"field": "tenant_id"}
    unknown = server.admin("POST", "/admin/nodes/launch", json={"model": SDXL, "tenant_id": "tenant_nobody"})
    assert unknown.status_code == 404
    # a launch for a tenant counts against its tier's quotas (free: none); the operator raises the tier
    body = {"tenant_id": tid, "provider": "runpod", "credentials": {"api_key": "rpa_valid"}}
    cid = server.admin("POST", "/admin/credentials", json=body).json()["id"]
    launch = {"model": SDXL, "tenant_id": tid, "credential_id": cid, "gpu": "A40"}
    over = server.admin("POST", "/admin/nodes/launch", json=launch)
    assert over.status_code == 403 and over.json()["error"] == "QuotaExceededError"
    assert server.admin("PATCH", f"/admin/tenants/{tid}", json={"tier": "pro"}).status_code == 200
    # a credential the admin names: the node is the tenant's and runs with that key
    launched = server.admin("POST", "/admin/nodes/launch", json=launch)
    assert launched.status_code == 202, launched.text
    node_id = launched.json()["id"]
    assert launched.json()["tenant_id"] == tid and launched.json()["status"] == "launching"
    wait_until(lambda: server.admin("GET", f"/admin/nodes/{node_id}").json()["status"] == "active", timeout=60)
    name = server.admin("GET", f"/admin/nodes/{node_id}").json()["cluster_name"]
    assert [e["env"]["DEPLOYMENT_ID"] for e in fakes.runpod.created_by_name(name)] == [node_id]
    assert "HF_TOKEN" not in fakes.runpod.created_by_name(name)[0]["env"]  # no HF_TOKEN on this server
    # the tenant sees, and manages, what the operator launched for it
    assert server.client.get(f"/v1/deployments/{node_id}", headers=auth).json()["status"] == "ready"
    assert server.client.get(f"/v1/instances/{node_id}", headers=auth).json()["status"] == "active"


@pytest.mark.parametrize(
    "path",
    [
        "/admin/deployments/%F0%9F%92%A5",
        "/admin/nodes/" + "x" * 5000,
        "/admin/deployments/%ED%A0%80/logs",
        "/admin/nodes/%00/logs/stream",
        "/admin/deployments?status=%F0%9F%92%A5",
        "/admin/deployments?gpu=%ED%A0%80",
        "/admin/deployments?cursor=%FF%FE",
        "/admin/deployments?limit=1e9",
        "/admin/nodes?tenant_id=" + "t" * 5000,
        "/admin/nodes?model=%ED%A0%80",
    ],
)
def test_hostile_path_and_query_values_are_4xx(server, path: str) -> None:
    resp = server.admin("GET", path)
    assert 400 <= resp.status_code < 500 or (resp.status_code == 200 and resp.json()["data"] == []), resp.text
    for verb in ("/terminate", "/terminate?purge=%F0%9F%92%A5"):
        if path.startswith("/admin/nodes/x"):
            assert server.admin("POST", path + verb).status_code == 404
    bad_tail = server.admin("GET", "/admin/nodes/x/logs?tail=-1")
    assert bad_tail.status_code in (404, 422)
