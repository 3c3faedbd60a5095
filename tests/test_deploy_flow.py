"""End to end: the real server against real local fakes of Runpod, the Hub and a webhook receiver."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e_support import BIG, GATED, HUGE, LLM, SDXL, Fakes, create_body, wait_until

SECRET_HEADER = "X-Visgate-Internal-Secret"


@pytest.fixture
def server(start_server, fakes):
    return start_server(env=fakes.env())


def deploy(server, fakes, **overrides) -> str:
    resp = server.post("/v1/deployments", json=create_body(fakes, **overrides))
    assert resp.status_code == 202, resp.text
    return resp.json()["deployment_id"]


def endpoint_env(fakes: Fakes, dep_id: str) -> dict[str, str]:
    (created,) = [e for e in fakes.runpod.created if e["name"].endswith(dep_id)]
    return created["env"]


def test_ready_through_worker_callbacks_then_delete(server, fakes) -> None:
    fakes.runpod.set_worker_state("initializing")  # health polling alone never says ready
    resp = server.post("/v1/deployments", json=create_body(fakes))
    assert resp.status_code == 202
    created = resp.json()
    assert created["status"] == "validating"
    assert created["model_id"] == SDXL
    assert created["webhook_url"] == fakes.hook_url
    assert created["deployment_id"].startswith("dep_2026_") or created["deployment_id"].startswith("dep_")
    dep_id = created["deployment_id"]

    body = server.wait_status(dep_id, "downloading_model")
    assert body["runpod_endpoint_id"] and body["endpoint_url"] == (
        f"{fakes.runpod.base_url}/v2/{body['runpod_endpoint_id']}/run"
    )
    assert body["gpu_allocated"] == "AMPERE_48"
    assert body["model_vram_gb"] == 8
    env = endpoint_env(fakes, dep_id)
    assert env["DEPLOYMENT_ID"] == dep_id and env["HF_MODEL_ID"] == SDXL
    assert env["ORCHESTRATOR_CALLBACK_URL"] == f"{server.base_url}/internal/deployment-ready/{dep_id}"
    secret = env["ORCHESTRATOR_CALLBACK_SECRET"]
    callback = f"/internal/deployment-ready/{dep_id}"

    for status in ("downloading_model", "loading_model"):
        r = server.client.post(callback, json={"status": status, "message": "50%"}, headers={SECRET_HEADER: secret})
        assert r.status_code == 200 and r.json()["status"] == status
    r = server.client.post(callback, json={"status": "ready"}, headers={SECRET_HEADER: secret})
    assert r.status_code == 200
    assert r.json() == {"deployment_id": dep_id, "status": "ready", "webhook_delivered": True}

    hook = fakes.webhooks.wait_for(lambda req: req.json and req.json.get("event") == "deployment.ready")
    assert hook.json["deployment_id"] == dep_id and hook.json["status"] == "ready"
    assert hook.json["endpoint_url"] == body["endpoint_url"] and hook.json["model_id"] == SDXL
    assert hook.json["gpu_allocated"] == "AMPERE_48" and hook.json["duration"] > 0

    ready = server.deployment(dep_id)
    assert ready["status"] == "ready" and ready["ready_at"] and ready["error"] is None
    messages = " | ".join(log["message"] for log in ready["logs"])
    assert "Selected GPU: AMPERE_48" in messages and "Worker: loading model" in messages
    # After ready the endpoint scales to zero at rest.
    endpoint = fakes.runpod.endpoints[ready["runpod_endpoint_id"]]
    wait_until(lambda: endpoint["workers"]["min"] == 0)

    assert server.delete(f"/v1/deployments/{dep_id}").status_code == 204
    server.wait_status(dep_id, "deleted")
    assert fakes.runpod.live_endpoints() == []
    assert ready["runpod_endpoint_id"] in fakes.runpod.deleted
    # The line that explains a move is written just after the move commits.
    wait_until(lambda: "verified gone" in " ".join(x["message"] for x in server.deployment(dep_id)["logs"]))
    assert server.delete(f"/v1/deployments/{dep_id}").status_code == 204  # idempotent


def test_ready_through_health_polling_only(server, fakes) -> None:
    dep_id = deploy(server, fakes, gpu_tier="auto")
    body = server.wait_status(dep_id, "ready")
    assert body["gpu_allocated"] == "AMPERE_16"  # cheapest pool that fits ~8 GB
    hook = fakes.webhooks.wait_for(lambda req: req.json and req.json.get("event") == "deployment.ready")
    assert hook.json["deployment_id"] == dep_id
    assert len(fakes.runpod.created) == 1


def test_a_wrong_worker_secret_is_401_and_changes_nothing(server, fakes) -> None:
    fakes.runpod.set_worker_state("initializing")
    dep_id = deploy(server, fakes)
    server.wait_status(dep_id, "downloading_model")
    for headers in ({}, {SECRET_HEADER: "wrong"}, {SECRET_HEADER: endpoint_env(fakes, dep_id)["DEPLOYMENT_ID"]}):
        r = server.client.post(f"/internal/deployment-ready/{dep_id}", json={"status": "ready"}, headers=headers)
        assert r.status_code == 401
        assert r.json()["error"] == "UnauthorizedError"
    assert server.deployment(dep_id)["status"] == "downloading_model"
    assert fakes.webhooks.received == []


def test_llm_goes_to_the_vllm_image(server, fakes) -> None:
    dep_id = deploy(server, fakes, hf_model_id=LLM, gpu_tier="auto")
    server.wait_status(dep_id, "ready")
    (created,) = fakes.runpod.created
    assert created["image"].startswith("runpod/worker-v1-vllm:")
    assert created["env"]["MODEL_NAME"] == LLM and created["env"]["TENSOR_PARALLEL_SIZE"] == "1"


@pytest.mark.parametrize(
    ("model", "tier", "code", "fragment"),
    [
        ("acme/does-not-exist", "auto", "model_not_found", "not found"),
        (GATED, "auto", "model_gated", "gated"),
        (BIG, "4090", "gpu_too_small", "GB"),
        (HUGE, "auto", "no_gpu_fits", "largest"),
    ],
)
def test_permanent_failures_fail_at_once_with_a_code(server, fakes, model, tier, code, fragment) -> None:
    dep_id = deploy(server, fakes, hf_model_id=model, gpu_tier=tier)
    body = server.wait_status(dep_id, "failed")
    assert body["error"]["code"] == code
    assert fragment in body["error"]["message"]
    assert body["error"]["retryable"] is False and body["error"]["step"] in ("validate", "select_gpu")
    assert fakes.runpod.created == []
    hook = fakes.webhooks.wait_for(lambda req: req.json and req.json.get("event") == "deployment.failed")
    assert hook.json["error"]["code"] == code


def test_gated_model_with_a_token_that_has_access_deploys(server, fakes) -> None:
    dep_id = deploy(server, fakes, hf_model_id=GATED, user_hf_token="hf_good", gpu_tier="auto")
    server.wait_status(dep_id, "ready")
    assert endpoint_env(fakes, dep_id)["HF_TOKEN"] == "hf_good"


def test_bad_runpod_key_fails_clearly_and_is_not_retried(server, fakes) -> None:
    dep_id = deploy(server, fakes, user_runpod_key="rpa_revoked")
    body = server.wait_status(dep_id, "failed")
    assert body["error"]["code"] == "runpod_unauthorized"
    assert "401" in body["error"]["message"]
    tried = [r for r in fakes.runpod.requests if r.headers.get("authorization") == "Bearer rpa_revoked"]
    # The catalog price lookup, the step that fails, and the cleanup that tries once and gives up visibly.
    assert 1 <= len(tried) <= 3
    assert fakes.runpod.created == []


def test_runpod_5xx_is_retried_then_succeeds_with_one_endpoint(server, fakes) -> None:
    fakes.runpod.fail_next("POST", "/v2/serverless", "status", count=2, status=503)
    dep_id = deploy(server, fakes)
    body = server.wait_status(dep_id, "ready")
    assert len(fakes.runpod.created) == 1
    assert any("retrying" in log["message"] for log in body["logs"])
    assert body["steps"][2]["name"] == "create_endpoint" and body["steps"][2]["attempts"] == 3


def test_runpod_429_honours_retry_after(server, fakes) -> None:
    fakes.runpod.fail_next("GET", "/v2/serverless", "status", count=1, status=429, retry_after=1)
    dep_id = deploy(server, fakes)
    body = server.wait_status(dep_id, "ready")
    assert any("retrying in 1s" in log["message"] for log in body["logs"])


def test_a_create_whose_answer_is_lost_is_adopted_not_repeated(server, fakes) -> None:
    fakes.runpod.fail_next("POST", "/v2/serverless", "lost_create")
    dep_id = deploy(server, fakes)
    body = server.wait_status(dep_id, "ready")
    assert len(fakes.runpod.created) == 1
    assert body["runpod_endpoint_id"] == fakes.runpod.created[0]["id"]
    assert any("adopted" in log["message"] for log in body["logs"])


def test_hub_down_is_retried_and_recovers(server, fakes) -> None:
    fakes.hub.fail_next("status", count=2, status=503)
    dep_id = deploy(server, fakes)
    server.wait_status(dep_id, "ready")


def test_hub_down_past_the_step_deadline_fails_as_hf_unavailable(start_server, fakes) -> None:
    server = start_server(env={**fakes.env(), "STEP_TIMEOUT_SECONDS": "1.5"})
    fakes.hub.down = True
    dep_id = deploy(server, fakes)
    body = server.wait_status(dep_id, "failed")
    assert body["error"]["code"] == "hf_unavailable" and body["error"]["retryable"] is True


def test_ready_deadline_fails_and_removes_the_endpoint(start_server, fakes) -> None:
    server = start_server(env={**fakes.env(), "DEPLOY_TIMEOUT_SECONDS": "2"})
    fakes.runpod.set_worker_state("initializing")
    dep_id = deploy(server, fakes)
    body = server.wait_status(dep_id, "failed")
    assert body["error"]["code"] == "ready_timeout"
    wait_until(lambda: fakes.runpod.live_endpoints() == [])


def test_crash_looping_worker_is_reported_as_unhealthy(server, fakes) -> None:
    fakes.runpod.set_worker_state("unhealthy")
    dep_id = deploy(server, fakes)
    body = server.wait_status(dep_id, "failed")
    assert body["error"]["code"] == "worker_unhealthy"
    assert "UNHEALTHY" in body["error"]["message"] and "capacity" in body["error"]["message"]
    wait_until(lambda: fakes.runpod.live_endpoints() == [])


def test_worker_reported_failure_fails_and_cleans_up(server, fakes) -> None:
    fakes.runpod.set_worker_state("initializing")
    dep_id = deploy(server, fakes)
    server.wait_status(dep_id, "downloading_model")
    secret = endpoint_env(fakes, dep_id)["ORCHESTRATOR_CALLBACK_SECRET"]
    r = server.client.post(
        f"/internal/deployment-ready/{dep_id}",
        json={"status": "failed", "message": "CUDA out of memory"},
        headers={SECRET_HEADER: secret},
    )
    assert r.status_code == 200 and r.json()["status"] == "failed"
    body = server.deployment(dep_id)
    assert body["error"]["code"] == "worker_failed" and "CUDA out of memory" in body["error"]["message"]
    wait_until(lambda: fakes.runpod.live_endpoints() == [])


def test_delete_while_provisioning_leaves_no_endpoint(server, fakes) -> None:
    fakes.runpod.set_worker_state("initializing")
    dep_id = deploy(server, fakes)
    server.wait_status(dep_id, "downloading_model")
    assert server.delete(f"/v1/deployments/{dep_id}").status_code == 204
    server.wait_status(dep_id, "deleted")
    assert fakes.runpod.live_endpoints() == []
    assert len(fakes.runpod.created) == 1


def test_webhook_failures_are_retried_then_webhook_failed(server, fakes) -> None:
    fakes.webhooks.responses = [500, 500, 500, 500]
    dep_id = deploy(server, fakes)
    server.wait_status(dep_id, "webhook_failed")
    ready_hooks = [r for r in fakes.webhooks.received if r.json and r.json.get("event") == "deployment.ready"]
    assert len(ready_hooks) == 4  # the first try and three retries (WEBHOOK_RETRY_SCHEDULE)
    assert len({r.headers["webhook-id"] for r in ready_hooks}) == 1


def test_webhook_recovers_after_a_failure(server, fakes) -> None:
    fakes.webhooks.responses = [503]
    dep_id = deploy(server, fakes)
    server.wait_status(dep_id, "ready")
    wait_until(lambda: server.deployment(dep_id)["status"] == "ready" and len(fakes.webhooks.received) == 2)


def test_model_name_and_provider_resolve(server, fakes) -> None:
    resp = server.post("/v1/deployments", json=create_body(fakes, hf_model_id=None, model_name="veo3", provider="fal"))
    assert resp.status_code == 202
    assert resp.json()["model_id"] == "black-forest-labs/FLUX.1-schnell"


def test_another_tenants_deployment_is_not_found(server, fakes) -> None:
    dep_id = deploy(server, fakes)
    other = server.as_key(server.new_tenant_key("Other"))
    for method in ("GET", "DELETE"):
        r = httpx.request(method, f"{server.base_url}/v1/deployments/{dep_id}", headers=other)
        assert r.status_code == 404 and r.json()["error"] == "DeploymentNotFoundError"
    assert server.deployment(dep_id)["status"] != "deleting"
