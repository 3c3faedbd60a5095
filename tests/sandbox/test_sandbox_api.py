"""The sandbox end to end: the real server (subprocess), deployments made with the Runpod key `sandbox`,
called through the inference proxy. Runpod's both APIs point at a local server that only records:
nothing may reach it. The Hub is out of reach, so the sandbox's offline catalog answers."""

from __future__ import annotations

import base64
import json
import math
import time
from collections.abc import Iterator
from datetime import datetime

import httpx
import pytest
from httpx_sse import connect_sse
from standardwebhooks import Webhook

from shared.platform.crypto import keyed_hash
from tests.conftest import Server, launch
from tests.e2e_support import wait_until
from tests.fakes.runpod import FakeRunpod
from tests.fakes.webhooks import WebhookReceiver
from tests.sandbox.support import EMBEDDING_MODEL, IMAGE_MODEL, TEXT_MODEL, png_size, sandbox_body, sandbox_env

SECRET = "sandbox-test-internal-secret"
MANUAL_RECONCILE = {"RECONCILE_INTERVAL_SECONDS": "1000000000", "INTERNAL_SECRET": SECRET}


@pytest.fixture(scope="module")
def recorder() -> Iterator[FakeRunpod]:
    with FakeRunpod() as runpod:
        yield runpod
        assert runpod.requests == [], [f"{r.method} {r.path}" for r in runpod.requests]


@pytest.fixture(scope="module")
def hooks() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as receiver:
        yield receiver


@pytest.fixture(scope="module")
def server(tmp_path_factory, recorder) -> Iterator[Server]:
    srv = launch(tmp_path_factory.mktemp("sandbox") / "data", sandbox_env(recorder, **MANUAL_RECONCILE))
    yield srv
    srv.stop()


def deploy(server: Server, body: dict, key: str | None = None) -> str:
    headers = server.as_key(key) if key else {}
    resp = server.post("/v1/deployments", json=body, headers=headers)
    assert resp.status_code == 202, resp.text
    assert resp.json()["sandbox"] is True
    return resp.json()["deployment_id"]


@pytest.fixture(scope="module")
def ready(server: Server) -> dict[str, dict]:
    """One ready sandbox deployment per kind of model."""
    ids = {kind: deploy(server, sandbox_body(model)) for kind, model in
           (("image", IMAGE_MODEL), ("text", TEXT_MODEL), ("embedding", EMBEDDING_MODEL))}  # fmt: skip
    return {kind: server.wait_status(dep_id, "ready", timeout=60) for kind, dep_id in ids.items()}


def messages(server: Server, dep_id: str) -> list[str]:
    return [line["message"] for line in server.get(f"/v1/deployments/{dep_id}/logs").json()["data"]]


def test_image_model_deploys_with_worker_progress_and_costs_nothing(server, ready):
    dep = ready["image"]
    assert dep["sandbox"] is True and dep["sandbox_scenario"] == "ok"
    assert dep["cost"]["price_per_hour"] == 0 and dep["cost"]["price_source"] == "sandbox"
    # The simulated catalog answers availability as Runpod's does: placement ranks by it.
    placement = dep["placement"]
    assert placement["availability_source"] == "runpod_catalog" and placement["chosen"] == dep["gpu_pools"]
    assert all(c["availability"] == "HIGH" for c in placement["candidates"] if c["chosen"])
    logs = messages(server, dep["deployment_id"])
    assert any("offline catalog" in m for m in logs), logs  # the Hub was out of reach
    # The simulated inference container reported through the real callback, stage by stage.
    assert any(m.startswith("Worker: downloading model") for m in logs), logs
    assert any(m.startswith("Worker: loading model") for m in logs), logs
    assert "Model is loaded and the endpoint is ready (reported by the worker)" in logs, "\n".join(logs)
    listed = server.get("/v1/deployments").json()["data"]
    assert {d["deployment_id"]: d["sandbox"] for d in listed}[dep["deployment_id"]] is True
    health = server.get(f"/v1/deployments/{dep['deployment_id']}/health").json()
    assert health["data"] in ("Healthy", "SCALED_DOWN"), health


def test_image_runsync_answers_a_png(server, ready):
    dep_id = ready["image"]["deployment_id"]
    resp = server.post(f"/v1/deployments/{dep_id}/runsync", json={"input": {"prompt": "a cat", "width": 32}})
    assert resp.status_code == 200, resp.text
    job = resp.json()
    assert job["status"] == "COMPLETED", job
    assert png_size(base64.b64decode(job["output"]["images"][0])) == (32, 64)


def test_run_then_status_completes(server, ready):
    dep_id = ready["image"]["deployment_id"]
    job = server.post(f"/v1/deployments/{dep_id}/run", json={"input": {"prompt": "a dog"}}).json()
    assert job["status"] in ("IN_QUEUE", "IN_PROGRESS"), job
    seen: dict = {}

    def completed() -> bool:
        seen.update(server.get(f"/v1/deployments/{dep_id}/jobs/{job['id']}").json())
        return seen["status"] == "COMPLETED"

    wait_until(completed, timeout=20, message="the job never completed")
    assert png_size(base64.b64decode(seen["output"]["images"][0])) == (64, 64)
    stream = server.get(f"/v1/deployments/{dep_id}/stream/{job['id']}").json()
    assert stream["status"] == "COMPLETED" and len(stream["stream"]) == 1
    assert server.get(f"/v1/deployments/{dep_id}/jobs/sbxjob-unknown").status_code == 404


def test_text_model_chat_streamed_and_not(server, ready):
    dep = ready["text"]
    assert dep["worker_image"].startswith("runpod/worker-v1-vllm")  # readiness from health only: no callbacks
    runsync = server.post(f"/v1/deployments/{dep['deployment_id']}/runsync", json={"input": {"prompt": "hi"}})
    assert runsync.json()["output"][0]["choices"][0]["tokens"][0].startswith('Sandbox reply to "hi"')
    body = {"model": TEXT_MODEL, "messages": [{"role": "user", "content": "Hello there"}], "max_tokens": 8}
    whole = server.post("/v1/chat/completions", json=body)
    assert whole.status_code == 200, whole.text
    text = whole.json()["choices"][0]["message"]["content"]
    assert text.startswith('Sandbox reply to "Hello there"')
    with (
        httpx.Client(base_url=server.base_url, headers=server.auth, timeout=30) as client,
        connect_sse(client, "POST", "/v1/chat/completions", json={**body, "stream": True}) as source,
    ):
        events = [event.data for event in source.iter_sse()]
    assert events[-1] == "[DONE]" and len(events) > 3
    chunks = [json.loads(data) for data in events[:-1]]
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == text  # deterministic
    completion = server.post("/v1/completions", json={"model": TEXT_MODEL, "prompt": "Once"}).json()
    assert completion["choices"][0]["text"].startswith('Sandbox reply to "Once"')
    models = [m["id"] for m in server.get("/v1/models").json()["data"]]
    assert TEXT_MODEL in models


def test_embeddings(server, ready):
    body = {"model": EMBEDDING_MODEL, "input": ["first text", "second text", "first text"]}
    resp = server.post("/v1/embeddings", json=body)
    assert resp.status_code == 200, resp.text
    vectors = [row["embedding"] for row in resp.json()["data"]]
    assert len(vectors) == 3 and all(len(v) == 384 for v in vectors)
    assert vectors[0] == vectors[2] != vectors[1]
    assert math.isclose(sum(x * x for x in vectors[0]), 1.0, rel_tol=1e-3)


def test_crash_loop_fails_worker_unhealthy(server):
    dep_id = deploy(server, sandbox_body(sandbox={"scenario": "crash_loop"}, user_runpod_key=None))
    dep = server.wait_status(dep_id, {"failed", "ready"}, timeout=60)
    assert dep["status"] == "failed" and dep["error"]["code"] == "worker_unhealthy", dep["error"]
    assert dep["sandbox_scenario"] == "crash_loop"


def test_no_capacity_waits_like_a_throttled_endpoint_and_slow_start_is_slow(server):
    waiting = deploy(server, sandbox_body(TEXT_MODEL, sandbox={"scenario": "no_capacity"}, user_runpod_key=None))
    slow = deploy(server, sandbox_body(IMAGE_MODEL, sandbox={"scenario": "slow_start"}, user_runpod_key=None))
    quick = deploy(server, sandbox_body(IMAGE_MODEL, sandbox=True, user_runpod_key=None))

    def throttled() -> bool:
        health = server.get(f"/v1/deployments/{waiting}/health").json()
        return (health.get("workers") or {}).get("throttled", 0) >= 1

    wait_until(throttled, timeout=30, message="no throttled worker reported")
    server.wait_status(quick, "ready", timeout=60)
    # A deployment made after the slow one is ready first; the slow one is still downloading.
    slow_now = server.deployment(slow)
    assert slow_now["status"] in ("creating_endpoint", "downloading_model"), slow_now["status"]
    assert server.deployment(waiting)["status"] in ("creating_endpoint", "downloading_model")
    health = server.get(f"/v1/deployments/{waiting}/health").json()
    assert health["data"] == "Progressing" and health["workers"]["ready"] == 0, health
    for dep_id in (waiting, slow):
        assert server.delete(f"/v1/deployments/{dep_id}").status_code in (202, 204)
        server.wait_status(dep_id, "deleted", timeout=30)


def test_sandbox_in_the_body_needs_no_key_and_refuses_one(server):
    dep_id = deploy(server, {"hf_model_id": IMAGE_MODEL, "sandbox": True})
    assert server.deployment(dep_id)["sandbox"] is True
    both = server.post("/v1/deployments", json={**sandbox_body(user_runpod_key="rpa_real"), "sandbox": True})
    assert both.status_code == 422, both.text
    bad = server.post("/v1/deployments", json={"hf_model_id": IMAGE_MODEL, "sandbox": {"scenario": "meltdown"}})
    assert bad.status_code == 422, bad.text


def test_a_stored_sandbox_credential(server):
    created = server.post("/v1/credentials", json={"provider": "sandbox", "name": "Test mode"})
    assert created.status_code == 201, created.text
    cred = created.json()
    assert cred["masked_key"] == "sandbox"
    checked = server.post(f"/v1/credentials/{cred['id']}/validate").json()
    assert checked["is_valid"] is True
    dep_id = deploy(server, {"hf_model_id": IMAGE_MODEL, "credential_id": cred["id"]})
    assert server.wait_status(dep_id, "ready", timeout=60)["sandbox"] is True


def test_openapi_publishes_the_scenarios(server):
    spec = server.client.get("/openapi.json").json()
    options = spec["components"]["schemas"]["SandboxOptions"]
    assert options["properties"]["scenario"]["enum"] == ["ok", "crash_loop", "no_capacity", "slow_start"]


def test_tenants_do_not_see_each_others_sandbox(server, ready):
    other = server.new_tenant_key("Sandboxer")
    mine = ready["image"]["deployment_id"]
    theirs = deploy(server, sandbox_body(IMAGE_MODEL), key=other)
    as_other = server.as_key(other)
    assert server.get(f"/v1/deployments/{mine}", headers=as_other).status_code == 404
    assert server.post(f"/v1/deployments/{mine}/runsync", json={"input": {}}, headers=as_other).status_code == 404
    listed = [d["deployment_id"] for d in server.get("/v1/deployments", headers=as_other).json()["data"]]
    assert listed == [theirs]
    assert theirs not in [d["deployment_id"] for d in server.get("/v1/deployments").json()["data"]]
    ready_theirs = server.client.get(f"/v1/deployments/{theirs}", headers=as_other)
    assert ready_theirs.status_code == 200
    chat = {"model": TEXT_MODEL, "messages": [{"role": "user", "content": "hi"}]}
    assert server.post("/v1/chat/completions", json=chat, headers=as_other).status_code == 404


def task_token() -> str:
    return keyed_hash(SECRET, "local-queue", "task-token")


def test_webhooks_signed_and_repeated_worker_ticks_change_nothing(server, hooks):
    dep_id = deploy(server, sandbox_body(user_webhook_url=hooks.url()))
    server.wait_status(dep_id, "ready", timeout=60)
    ready_hook = hooks.wait_for(
        lambda r: r.json.get("deployment_id") == dep_id and r.json["event"] == "deployment.ready"
    )
    secret = server.get("/v1/webhooks/secret").json()["secret"]
    payload = Webhook(secret).verify(ready_hook.body, ready_hook.headers)
    assert payload["sandbox"] is True and payload["status"] == "ready"

    endpoint_id = server.deployment(dep_id)["runpod_endpoint_id"]
    auth = {"Authorization": f"Bearer {task_token()}"}
    for tick in (0, 3, 3, 1):  # a duplicate and late deliveries of the simulated worker's reports
        task = {"kind": "sandbox", "endpoint_id": endpoint_id, "tick": tick}
        resp = server.client.post("/internal/steps", json=task, headers=auth)
        assert resp.status_code == 200, resp.text
        assert resp.json()["result"] == "reported ready"
    time.sleep(0.5)
    dep = server.deployment(dep_id)
    assert dep["status"] == "ready"
    readies = [r for r in hooks.by_event("deployment.ready") if r.json["deployment_id"] == dep_id]
    assert len(readies) == 1
    assert sum("endpoint is ready" in m for m in messages(server, dep_id)) == 1


def test_the_reconciler_leaves_the_sandbox_alone(server, ready):
    token = task_token()
    resp = server.client.post("/internal/reconcile", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert resp.status_code == 200, resp.text
    assert server.deployment(ready["image"]["deployment_id"])["status"] == "ready"
    # (the recorder's teardown asserts that no request reached Runpod)


def test_delete_removes_the_simulated_endpoint(server):
    dep_id = deploy(server, sandbox_body())
    server.wait_status(dep_id, "ready", timeout=60)
    assert server.delete(f"/v1/deployments/{dep_id}").status_code in (202, 204)
    dep = server.wait_status(dep_id, "deleted", timeout=30)
    assert dep["sandbox"] is True
    assert any("deleted" in m.lower() for m in messages(server, dep_id))


def test_sse_status_events_are_marked_and_pause_resume_work(server):
    dep_id = deploy(server, sandbox_body())
    with (
        httpx.Client(base_url=server.base_url, headers=server.auth, timeout=60) as client,
        connect_sse(client, "GET", f"/v1/deployments/{dep_id}/logs/stream") as source,
    ):
        statuses = [json.loads(e.data) for e in source.iter_sse() if e.event == "status"]
    assert statuses and all(s["sandbox"] is True for s in statuses), statuses
    assert statuses[-1]["status"] == "ready"
    assert server.post(f"/v1/deployments/{dep_id}/stop").status_code == 200
    server.wait_status(dep_id, "paused", timeout=30)
    wait_until(lambda: server.get(f"/v1/deployments/{dep_id}/health").json()["data"] == "SCALED_DOWN", timeout=20)
    assert server.post(f"/v1/deployments/{dep_id}/start").status_code == 200
    server.wait_status(dep_id, "ready", timeout=30)
    job = server.post(f"/v1/deployments/{dep_id}/runsync", json={"input": {"prompt": "again"}}).json()
    assert job["status"] == "COMPLETED", job


def test_a_sandbox_deployment_updates_green_and_keeps_answering(server):
    dep_id = deploy(server, sandbox_body(TEXT_MODEL))
    first = server.wait_status(dep_id, "ready", timeout=60)
    answers: list[httpx.Response] = []

    def patched() -> bool:  # right after ready, finalize may still run: a 409 that says "retry shortly"
        answers.append(
            server.client.patch(f"/v1/deployments/{dep_id}", json={"gpu_tier": "AMPERE_48"}, headers=server.auth)
        )
        return answers[-1].status_code != 409

    wait_until(patched, timeout=30, message="the update was refused as a conflict all along")
    assert answers[-1].status_code == 202, answers[-1].text
    task_id = answers[-1].json()["task_id"]

    def task() -> dict:
        return server.get(f"/v1/tasks/{task_id}").json()

    wait_until(lambda: task()["status"] in ("completed", "failed"), timeout=60, message=str(task()))
    assert task()["status"] == "completed", task()
    now = server.deployment(dep_id)
    assert now["status"] == "ready" and now["generation"] == 2 and now["sandbox"] is True
    assert now["runpod_endpoint_id"] != first["runpod_endpoint_id"]
    answer = server.post(f"/v1/deployments/{dep_id}/runsync", json={"input": {"prompt": "hi"}})
    assert answer.status_code == 200 and answer.json()["status"] == "COMPLETED", answer.text


def test_a_sandbox_deployment_estimates_its_own_pace(server):
    resp = server.post("/v1/deployments", json=sandbox_body(TEXT_MODEL))
    assert resp.status_code == 202, resp.text
    assert resp.json()["estimated_ready_seconds"] < 60  # seconds, not the minutes a real worker takes
    dep = server.deployment(resp.json()["deployment_id"])
    created, eta = (datetime.fromisoformat(dep[k].replace("Z", "+00:00")) for k in ("created_at", "estimated_ready_at"))
    assert (eta - created).total_seconds() < 60, dep
