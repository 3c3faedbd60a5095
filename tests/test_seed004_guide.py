"""Seed 004's guide replayed with its own requests, in its order, against Runpod in place of SkyPilot:
health, a tenant, its credentials (Runpod keys in place of cloud keys), a registered model, a node launched
with the operator's Runpod key and HF_TOKEN (the seed's model is gated), its status polled to active, the
node list, an API key and a chat completion on the node (shared inference), its logs and stream, terminate,
purge and verify; then a PRO tenant's self-service instances, a free tenant refused with TierError; cleanup."""

from __future__ import annotations

import sqlite3

import httpx
import pytest
from httpx_sse import connect_sse

from tests.conftest import ADMIN_TOKEN
from tests.e2e_support import wait_until

MODEL = "meta-llama/Llama-3.1-8B-Instruct"
OPERATOR_HF = "hf_operator_token"
NODE_FIELDS = {"id", "cluster_name", "model_name", "provider", "region", "gpu", "gpu_count", "status",
               "request_id", "created_at"}  # fmt: skip
LLM_CONFIG = {"num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8, "hidden_size": 4096}


@pytest.fixture
def server(start_server, fakes):
    fakes.hub.add_model(
        MODEL,
        library_name="transformers",
        pipeline_tag="text-generation",
        parameters={"BF16": 8_000_000_000},
        config=LLM_CONFIG,
        gated="manual",
        tokens_with_access={OPERATOR_HF},
    )
    return start_server(env={**fakes.env(), "HF_TOKEN": OPERATOR_HF, "OPERATOR_RUNPOD_API_KEY": "rpa_test"})


def admin(server, method: str, path: str, **kw) -> httpx.Response:
    return server.client.request(method, path, headers={"X-Admin-Token": ADMIN_TOKEN}, **kw)


def sse(server, path: str, headers: dict[str, str], stop=lambda e: e.event == "done") -> list:
    events = []
    with (
        httpx.Client(base_url=server.base_url, timeout=30) as client,
        connect_sse(client, "GET", path, headers=headers) as source,
    ):
        assert source.response.status_code == 200, source.response.read()
        for event in source.iter_sse():
            if event.data:
                events.append(event)
            if stop(event):
                break
    return events


def test_the_seeds_guide_end_to_end(server, fakes) -> None:
    # Step 2: health
    health = server.client.get("/health")
    assert health.status_code == 200 and health.json()["status"] == "ok"  # the service's own word (seed 000)

    # Step 3: a tenant (free by default)
    tenant = admin(server, "POST", "/admin/tenants", json={"name": "Test Organization", "email": "test@example.com"})
    assert tenant.status_code == 201, tenant.text
    tenant_id = tenant.json()["id"]
    assert tenant.json()["tier"] == "free" and tenant.json()["status"] == "active"

    # Step 4: credentials. The seed's AWS keys have no place here (Runpod stands in): a clear 422...
    aws = {"tenant_id": tenant_id, "provider": "aws", "name": "AWS Production", "is_default": True,
           "credentials": {"access_key_id": "AKIAIOSFODNN7EXAMPLE", "secret_access_key": "wJalrXUtn"}}  # fmt: skip
    refused = admin(server, "POST", "/admin/credentials", json=aws)
    assert refused.status_code == 422 and refused.json()["error"] == "ValidationError"
    # ... and the same request with a Runpod key
    runpod = {**aws, "provider": "runpod", "name": "Runpod Production", "credentials": {"api_key": "rpa_valid"}}
    cred = admin(server, "POST", "/admin/credentials", json=runpod)
    assert cred.status_code == 201, cred.text
    credential_id = cred.json()["id"]
    assert cred.json()["tenant_id"] == tenant_id and cred.json()["is_default"] is True
    listed = admin(server, "GET", "/admin/credentials", params={"tenant_id": tenant_id}).json()["data"]
    assert [c["id"] for c in listed] == [credential_id]
    checked = admin(server, "POST", f"/admin/credentials/{credential_id}/validate?tenant_id={tenant_id}")
    assert checked.status_code == 200 and checked.json()["is_valid"] is True

    # Step 5: register the model (the seed's body)
    model = {"name": MODEL, "family": "llama", "size": "8B", "type": "chat", "context_length": 8192,
             "vram_required_gb": 16, "price_input_per_million": 0.15, "price_output_per_million": 0.60,
             "huggingface_id": MODEL}  # fmt: skip
    registered = admin(server, "POST", "/admin/models", json=model)
    assert registered.status_code == 201, registered.text

    # Step 6.1: launch a node (the seed's body): the operator's Runpod key, the operator's HF token
    launch = {"provider": "aws", "region": "us-west-2", "gpu": "A10G", "gpu_count": 1, "model": MODEL,
              "idle_minutes_to_autostop": 30}  # fmt: skip
    node = admin(server, "POST", "/admin/nodes/launch", json=launch)
    assert node.status_code == 202, node.text
    node = node.json()
    assert set(node) >= NODE_FIELDS and node["status"] == "launching"
    assert node["model_name"] == MODEL and node["gpu"] == "A10G" and node["gpu_count"] == 1
    assert node["region"] == "us-west-2" and node["requested_provider"] == "aws" and node["provider"] == "runpod"
    assert node["cluster_name"] and node["request_id"] and node["tenant_id"] is None
    node_id = node["id"]

    # Step 6.2: poll to active, through the seed's statuses
    seen: list[str] = []

    def active() -> bool:
        status = admin(server, "GET", f"/admin/nodes/{node_id}").json()["status"]
        if not seen or seen[-1] != status:
            seen.append(status)
        assert status != "failed", admin(server, "GET", f"/admin/nodes/{node_id}").json()
        return status == "active"

    wait_until(active, timeout=60)
    assert set(seen) <= {"launching", "initializing", "active"} and seen[-1] == "active"
    shown = admin(server, "GET", f"/admin/nodes/{node_id}").json()
    assert shown["endpoint"] and shown["gpu_pool"] == "AMPERE_24" and shown["deployment_status"] == "ready"
    endpoint_id = admin(server, "GET", f"/admin/deployments/{node_id}").json()["runpod_endpoint_id"]
    endpoint = fakes.runpod.endpoints[endpoint_id]
    assert endpoint["name"] == shown["cluster_name"]
    assert endpoint["env"]["HF_TOKEN"] == OPERATOR_HF  # the gated weights download with it

    # Step 6.3: list all nodes
    nodes = admin(server, "GET", "/admin/nodes").json()["data"]
    assert [n["id"] for n in nodes] == [node_id] and nodes[0]["status"] == "active"

    # Step 8: an API key for the tenant, and a chat completion served by the node (shared inference)
    key = admin(server, "POST", "/admin/api-keys", json={"tenant_id": tenant_id, "name": "test-key"})
    assert key.status_code == 201
    auth = {"Authorization": f"Bearer {key.json()['key']}"}
    chat = {"model": MODEL, "messages": [{"role": "user", "content": "What is the capital of France?"}],
            "max_tokens": 100}  # fmt: skip
    answer = server.client.post("/v1/chat/completions", json=chat, headers=auth)
    assert answer.status_code == 200, answer.text
    assert answer.headers["X-Deployment-Id"] == node_id and answer.json()["choices"]
    models = {m["id"]: m for m in server.client.get("/v1/models", headers=auth).json()["data"]}
    assert models[MODEL]["ready"] is True and models[MODEL]["deployment_id"] is None  # the operator's, unnamed

    # Step 9.5: logs (JSON) and the stream: the last event is the seed's `done`
    history = admin(server, "GET", f"/admin/nodes/{node_id}/logs", params={"tail": 100})
    assert history.status_code == 200 and history.json()["data"]
    admin_auth = {"X-Admin-Token": ADMIN_TOKEN}
    events = sse(server, f"/admin/nodes/{node_id}/logs/stream", admin_auth)
    assert events[-1].event == "done"
    assert events[-1].json() | {"endpoint": shown["endpoint"], "status": "active", "message": "Node ready"} == (
        events[-1].json()
    )
    assert {e.event for e in events} >= {"log", "status", "done"}
    got: list = []

    def two_lines_and_status(event) -> bool:
        got.append(event.event)
        return got.count("log") >= 2 and "status" in got

    tail = sse(server, f"/admin/nodes/{node_id}/logs/stream?follow=true&tail=2", admin_auth, two_lines_and_status)
    assert [e.json()["status"] for e in tail if e.event == "status"] == ["active"]
    tail_ids = [e.id for e in tail if e.event == "log"]
    everything = admin(server, "GET", f"/admin/nodes/{node_id}/logs", params={"tail": 1000}).json()["data"]
    everything_ids = [f"{x['timestamp']}/{x['id']}" for x in everything]
    first = everything_ids.index(tail_ids[0])  # the last two lines when it started: consecutive, none before
    assert everything_ids[first : first + 2] == tail_ids and first >= len([e for e in events if e.event == "log"]) - 2

    # Step 9: terminate, then purge; verify it goes terminating -> terminated -> gone
    ended = admin(server, "POST", f"/admin/nodes/{node_id}/terminate")
    assert ended.status_code == 200
    assert ended.json() | {"status": "terminating", "message": "Node termination initiated"} == ended.json()
    purged = admin(server, "POST", f"/admin/nodes/{node_id}/terminate?purge=true")
    assert purged.status_code == 200 and purged.json()["purge"] in ("pending", "done")
    wait_until(lambda: admin(server, "GET", f"/admin/nodes/{node_id}").status_code == 404, timeout=30)
    assert fakes.runpod.endpoints_named(shown["cluster_name"]) == []
    assert admin(server, "GET", f"/admin/nodes/{node_id}/logs").status_code == 404
    assert admin(server, "GET", "/admin/nodes").json()["data"] == []

    # PRO tier self-service: credentials and instances
    pro = admin(server, "POST", "/admin/tenants", json={"name": "PRO Customer Inc", "email": "pro@example.com",
                                                        "tier": "pro"})  # fmt: skip
    assert pro.status_code == 201 and pro.json()["tier"] == "pro"
    pro_key = admin(server, "POST", "/admin/api-keys", json={"tenant_id": pro.json()["id"], "name": "pro-key"})
    pro_auth = {"Authorization": f"Bearer {pro_key.json()['key']}"}
    mine = {"provider": "runpod", "name": "My Runpod Production", "is_default": True,
            "credentials": {"api_key": "rpa_valid"}}  # fmt: skip
    own = server.client.post("/v1/credentials", json=mine, headers=pro_auth)
    assert own.status_code == 201, own.text
    mine_listed = server.client.get("/v1/credentials", headers=pro_auth).json()["data"]
    assert [c["id"] for c in mine_listed] == [own.json()["id"]]
    valid = server.client.post(f"/v1/credentials/{own.json()['id']}/validate", headers=pro_auth)
    assert valid.json()["is_valid"] is True

    # the seed's instance body; the model is gated and the operator's token is not the tenant's to use
    instance = {"model": MODEL, "provider": "aws", "region": "us-west-2", "gpu": "A10G", "gpu_count": 1,
                "idle_minutes_to_autostop": 30, "use_spot": True}  # fmt: skip
    gated = server.client.post("/v1/instances", json=instance, headers=pro_auth)
    assert gated.status_code == 202, gated.text
    gated_id = gated.json()["id"]
    wait_until(lambda: server.client.get(f"/v1/instances/{gated_id}", headers=pro_auth).json()["status"] == "failed")
    failed = server.client.get(f"/v1/instances/{gated_id}", headers=pro_auth).json()
    assert "gated" in failed["error"]
    # with its own Hugging Face token it launches
    launched = server.client.post("/v1/instances", json={**instance, "hf_token": OPERATOR_HF}, headers=pro_auth)
    assert launched.status_code == 202, launched.text
    instance_id = launched.json()["id"]
    assert launched.json()["tenant_id"] == pro.json()["id"] and launched.json()["use_spot"] is True
    listed_instances = server.client.get("/v1/instances", headers=pro_auth).json()["data"]
    assert [i["id"] for i in listed_instances] == [instance_id, gated_id]
    stream = sse(server, f"/v1/instances/{instance_id}/logs/stream?follow=true", pro_auth,
                 stop=lambda e: e.event == "status" and e.json()["status"] == "active")  # fmt: skip
    assert stream[-1].json()["status"] == "active"
    gone = server.client.delete(f"/v1/instances/{instance_id}", headers=pro_auth)
    assert gone.status_code == 200 and gone.json()["status"] == "terminating"
    wait_until(lambda: server.client.get(f"/v1/instances/{instance_id}", headers=pro_auth).json()["status"]
               == "terminated")  # fmt: skip
    # the operator sees the tenant's instances in the fleet; the tenant never sees another's
    fleet = admin(server, "GET", "/admin/nodes", params={"tenant_id": pro.json()["id"]}).json()["data"]
    assert {n["id"] for n in fleet} == {instance_id, gated_id}
    assert server.client.get(f"/v1/instances/{instance_id}", headers=auth).status_code == 403  # free: TierError

    # The free tenant of step 3: no self-service instances (TierError naming the tiers that allow them)
    free = server.client.post("/v1/instances", json=instance, headers=auth)
    assert free.status_code == 403 and free.json()["error"] == "TierError"
    assert free.json()["details"] == {"tier": "free", "feature": "instances", "allowed_tiers": ["pro", "enterprise"]}
    streamed = server.client.get(f"/v1/instances/{instance_id}/logs/stream", headers=auth)
    assert streamed.status_code == 403 and streamed.json()["details"]["feature"] == "log_streams"

    # the operator's secrets were never logged, returned or stored in plain text (the key is kept encrypted)
    with sqlite3.connect(server.data_dir / "orchestrator.db") as conn:
        blob = "".join(row[0] for row in conn.execute("SELECT doc FROM docs"))
    for secret in ("rpa_test", OPERATOR_HF):
        assert secret not in server.log_path.read_text() and secret not in blob, secret

    # Step 10: cleanup
    deleted = admin(server, "DELETE", f"/admin/credentials/{credential_id}?tenant_id={tenant_id}")
    assert deleted.status_code == 204
    assert admin(server, "DELETE", f"/admin/tenants/{tenant_id}").status_code == 204
    assert admin(server, "GET", f"/admin/tenants/{tenant_id}").status_code == 404


def test_openapi_documents_the_seeds_fields(server) -> None:
    spec = server.client.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    assert set(schemas["Node"]["properties"]) >= NODE_FIELDS | {"endpoint", "tenant_id"}
    launch = {"provider", "region", "gpu", "gpu_count", "model", "idle_minutes_to_autostop", "tenant_id"}
    assert set(schemas["NodeLaunch"]["properties"]) >= launch | {"credential_id"}
    assert set(schemas["InstanceLaunch"]["properties"]) >= {"model", "gpu", "use_spot"}
    assert set(schemas["Termination"]["properties"]) >= {"status", "message"}
    paths = spec["paths"]
    for path in ("/admin/nodes", "/admin/nodes/launch", "/admin/nodes/{node_id}", "/admin/nodes/{node_id}/terminate",
                 "/admin/nodes/{node_id}/logs", "/admin/nodes/{node_id}/logs/stream", "/v1/instances",
                 "/v1/instances/{instance_id}", "/v1/instances/{instance_id}/logs/stream", "/admin/deployments",
                 "/admin/deployments/{deployment_id}/terminate"):  # fmt: skip
        assert path in paths, path
    stream = {p["name"] for p in paths["/admin/nodes/{node_id}/logs/stream"]["get"]["parameters"]}
    assert {"follow", "tail"} <= stream
