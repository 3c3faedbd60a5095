"""Lifecycle and observability end to end: options, list, health, scale, pause/resume, delete, logs, events."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from httpx_sse import connect_sse

from tests.e2e_support import LLM, SDXL, Fakes, create_body, endpoint_name, wait_until

SECRET_HEADER = "X-Visgate-Internal-Secret"


@pytest.fixture
def server(start_server, fakes):
    return start_server(env={**fakes.env(), "RECONCILE_INTERVAL_SECONDS": "1"})


def deploy(server, fakes, **overrides) -> str:
    resp = server.post("/v1/deployments", json=create_body(fakes, **overrides))
    assert resp.status_code == 202, resp.text
    return resp.json()["deployment_id"]


def ready(server, fakes, **overrides) -> tuple[str, dict]:
    dep_id = deploy(server, fakes, **overrides)
    body = server.wait_status(dep_id, "ready")
    wait_until(lambda: server.deployment(dep_id)["steps"][-1]["name"] == "finalize"
          and server.deployment(dep_id)["steps"][-1]["state"] == "succeeded")  # fmt: skip
    return dep_id, fakes.runpod.endpoints[body["runpod_endpoint_id"]]


def secret_for(fakes: Fakes, dep_id: str) -> str:
    (created,) = [e for e in fakes.runpod.created if e["name"] == endpoint_name(dep_id)]
    return created["env"]["ORCHESTRATOR_CALLBACK_SECRET"]


# ---- create-time options (what a create refuses: tests/inprocess/test_create_validation.py) ----


def test_create_options_reach_runpod(server, fakes) -> None:
    dep_id, endpoint = ready(
        server, fakes, deployment_name="my-sdxl", min_replicas=1, max_replicas=3, idle_timeout_seconds=120,
        env={"LOG_LEVEL": "debug"}, data_center_ids=["US-TX-3"],
    )  # fmt: skip
    (created,) = fakes.runpod.created
    assert created["workers"] == {"min": 1, "max": 3, "idleTimeout": 120}
    assert created["dataCenterIds"] == ["US-TX-3"] and created["env"]["LOG_LEVEL"] == "debug"
    assert endpoint["workers"]["min"] == 1 and endpoint["workers"]["max"] == 3  # serving scale after finalize
    body = server.deployment(dep_id)
    assert body["deployment_name"] == "my-sdxl" and (body["min_replicas"], body["max_replicas"]) == (1, 3)
    # names are unique per caller
    again = server.post("/v1/deployments", json=create_body(fakes, deployment_name="my-sdxl"))
    assert again.status_code == 409 and again.json()["error"] == "ConflictError"


def test_gpu_count_is_tensor_parallelism_for_llms(server, fakes) -> None:
    dep_id, _ = ready(server, fakes, hf_model_id=LLM, gpu_tier="auto", gpu_count=2)
    (created,) = fakes.runpod.created
    assert created["gpu"]["count"] == 2 and created["env"]["TENSOR_PARALLEL_SIZE"] == "2"
    assert server.deployment(dep_id)["gpu_count"] == 2


# ---- list ---------------------------------------------------------------------------------------


def test_list_newest_first_with_filters(server, fakes) -> None:
    fakes.runpod.set_worker_state("initializing")
    a = deploy(server, fakes)
    b = deploy(server, fakes, hf_model_id=LLM, gpu_tier="auto")
    c = deploy(server, fakes, hf_model_id="acme/does-not-exist")
    server.wait_status(c, "failed")
    listed = server.get("/v1/deployments").json()
    assert [d["deployment_id"] for d in listed["data"]] == [c, b, a] and listed["next_cursor"] is None
    by_model = server.get("/v1/deployments", params={"model_id": SDXL}).json()["data"]
    assert [d["deployment_id"] for d in by_model] == [a]
    failed = server.get("/v1/deployments", params={"status": "failed"}).json()["data"]
    assert [d["deployment_id"] for d in failed] == [c] and failed[0]["error"]["code"] == "model_not_found"
    assert server.get("/v1/deployments", params={"status": "nope"}).status_code == 422
    assert server.get("/v1/deployments", params={"limit": "0"}).status_code == 422
    assert server.get("/v1/deployments", params={"cursor": "garbage"}).status_code == 422


def test_pagination_has_no_duplicates_or_gaps_under_concurrent_creates(server, fakes) -> None:
    fakes.runpod.set_worker_state("initializing")
    fakes.hub.down = True  # keep them in validating: listing is what this test is about
    before = [deploy(server, fakes) for _ in range(25)]
    stop = threading.Event()
    during: list[str] = []

    def create_more() -> None:
        while not stop.is_set():
            during.append(deploy(server, fakes))

    with ThreadPoolExecutor(1) as pool:
        pool.submit(create_more)
        seen, cursor = [], None
        while True:
            params = {"limit": "4", **({"cursor": cursor} if cursor else {})}
            page = server.get("/v1/deployments", params=params).json()
            seen += [d["deployment_id"] for d in page["data"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
            time.sleep(0.02)
        stop.set()
    assert len(seen) == len(set(seen)), "a deployment appeared twice"
    assert set(before) <= set(seen), "a deployment that existed before paging began was skipped"
    assert during, "nothing was created while paging"


# ---- health, scale, pause and resume ------------------------------------------------------------


def test_health_follows_the_deployment(server, fakes) -> None:
    fakes.runpod.set_worker_state("initializing")
    dep_id = deploy(server, fakes, min_replicas=1)
    server.wait_status(dep_id, "downloading_model")
    assert server.get(f"/v1/deployments/{dep_id}/health").json()["data"] == "Progressing"
    fakes.runpod.set_worker_state("auto")
    server.wait_status(dep_id, "ready")
    health = server.get(f"/v1/deployments/{dep_id}/health").json()
    assert health["data"] == "Healthy" and health["workers"]["ready"] == 1 and health["workers"]["not_ready"] == 0
    assert health["messages"][0]["severity"] == "info"
    fakes.runpod.set_worker_state("unhealthy")
    assert server.get(f"/v1/deployments/{dep_id}/health").json()["data"] == "Unhealthy"
    assert server.get("/v1/deployments/dep_2026_0000000000000000/health").status_code == 404
    server.delete(f"/v1/deployments/{dep_id}")
    server.wait_status(dep_id, "deleted")
    gone = server.get(f"/v1/deployments/{dep_id}/health")
    assert gone.status_code == 400 and gone.json()["error"] == "BadRequestError"


def test_scaled_to_zero_at_rest_is_scaled_down(server, fakes) -> None:
    dep_id, endpoint = ready(server, fakes)
    assert endpoint["workers"]["min"] == 0
    assert server.get(f"/v1/deployments/{dep_id}/health").json()["data"] == "SCALED_DOWN"


def test_scale_applies_and_quota_errors_are_clear(server, fakes) -> None:
    dep_id, endpoint = ready(server, fakes)
    resp = server.post(f"/v1/deployments/{dep_id}/scale", json={"min_replicas": 1, "max_replicas": 3})
    assert resp.status_code == 200
    assert resp.json() == {"message": "Autoscaling configuration updated successfully", "min_replicas": 1,
                           "max_replicas": 3}  # fmt: skip
    assert endpoint["workers"]["min"] == 1 and endpoint["workers"]["max"] == 3
    fakes.runpod.max_workers_quota = 5
    resp = server.post(f"/v1/deployments/{dep_id}/scale", json={"min_replicas": 1, "max_replicas": 8})
    assert resp.status_code == 400 and resp.json()["message"].startswith("Insufficient GPU quota")
    assert endpoint["workers"]["max"] == 3 and server.deployment(dep_id)["max_replicas"] == 3


def test_scale_of_a_failed_deployment_is_refused(server, fakes) -> None:
    dep_id = deploy(server, fakes, hf_model_id="acme/does-not-exist")
    server.wait_status(dep_id, "failed")
    resp = server.post(f"/v1/deployments/{dep_id}/scale", json={"min_replicas": 0, "max_replicas": 2})
    assert resp.status_code == 409


def test_pause_and_resume_round_trip_restores_scaling(server, fakes) -> None:
    dep_id, endpoint = ready(server, fakes)
    server.post(f"/v1/deployments/{dep_id}/scale", json={"min_replicas": 1, "max_replicas": 2})
    stopped = server.post(f"/v1/deployments/{dep_id}/stop")
    assert stopped.status_code == 200 and stopped.json()["update_result"] == "stopped"
    assert (endpoint["workers"]["min"], endpoint["workers"]["max"]) == (0, 0)
    body = server.deployment(dep_id)
    assert body["status"] == "paused" and body["endpoint_url"]
    assert server.get("/v1/deployments", params={"status": "paused"}).json()["data"][0]["deployment_id"] == dep_id
    health = server.get(f"/v1/deployments/{dep_id}/health").json()
    assert health["data"] == "SCALED_DOWN" and "paused" in health["messages"][0]["message"]
    assert server.post(f"/v1/deployments/{dep_id}/stop").json()["update_result"] == "already_stopped"
    started = server.post(f"/v1/deployments/{dep_id}/start")
    assert started.status_code == 200 and started.json()["update_result"] == "started"
    assert (endpoint["workers"]["min"], endpoint["workers"]["max"]) == (1, 2)
    assert server.deployment(dep_id)["status"] == "ready"


def test_delete_while_pausing_leaves_nothing(server, fakes) -> None:
    dep_id, _ = ready(server, fakes)
    with ThreadPoolExecutor(2) as pool:
        stop = pool.submit(server.post, f"/v1/deployments/{dep_id}/stop")
        delete = pool.submit(server.delete, f"/v1/deployments/{dep_id}")
        assert stop.result().status_code in (200, 409)
        assert delete.result().status_code == 204
    server.wait_status(dep_id, "deleted")
    assert fakes.runpod.live_endpoints() == []
    assert server.post(f"/v1/deployments/{dep_id}/start").status_code == 409


def test_cleanup_failed_after_three_attempts_then_the_reconciler_finishes(server, fakes) -> None:
    dep_id, _ = ready(server, fakes)
    fakes.runpod.fail_next("DELETE", "/v2/serverless/", "status", count=3, status=503)
    # The reconciler's first try then hangs until the client's timeout: the count is read while it runs.
    fakes.runpod.fail_next("DELETE", "/v2/serverless/", "timeout")
    assert server.delete(f"/v1/deployments/{dep_id}").status_code == 204
    body = server.wait_status(dep_id, "cleanup_failed")
    assert body["deletion"]["state"] == "failed" and body["deletion"]["attempts"] == 3
    assert "503" in body["deletion"]["error"] or "unavailable" in body["deletion"]["error"]
    wait_until(lambda: len(fakes.runpod.requests_to("DELETE", "/v2/serverless/")) == 4)
    during = server.deployment(dep_id)  # `attempts` counts attempts that ended, not one in progress
    assert during["status"] == "cleanup_failed" and during["deletion"]["attempts"] == 3, during["deletion"]
    done = server.wait_status(dep_id, "deleted", timeout=30)  # the reconciler keeps trying
    assert done["deletion"]["state"] == "completed" and done["deletion"]["completed_at"]
    assert done["deletion"]["attempts"] == 5  # 3 by the delete, 2 by the reconciler (one timed out)
    assert fakes.runpod.live_endpoints() == []
    assert server.delete(f"/v1/deployments/{dep_id}").status_code == 204


# ---- logs, streams, worker events ---------------------------------------------------------------


def test_logs_tail_and_since(server, fakes) -> None:
    dep_id, _ = ready(server, fakes)
    # The webhook's line is the last one logged: after it the log stands still.
    wait_until(lambda: any("Webhook deployment.ready delivered" in x["message"]
                           for x in server.get(f"/v1/deployments/{dep_id}/logs").json()["data"]))  # fmt: skip
    everything = server.get(f"/v1/deployments/{dep_id}/logs", params={"tail": "1000"}).json()["data"]
    assert len(everything) >= 6
    assert [x["timestamp"] for x in everything] == sorted(x["timestamp"] for x in everything)
    last2 = server.get(f"/v1/deployments/{dep_id}/logs", params={"tail": "2"}).json()["data"]
    assert [x["id"] for x in last2] == [x["id"] for x in everything[-2:]]
    cut = everything[2]["timestamp"]
    since = server.get(f"/v1/deployments/{dep_id}/logs", params={"since": cut}).json()["data"]
    assert [x["id"] for x in since] == [x["id"] for x in everything if x["timestamp"] > cut]
    phases = {x["phase"] for x in everything if x["phase"]}
    assert {"validating", "provisioning", "ready"} <= phases
    assert server.get(f"/v1/deployments/{dep_id}/logs", params={"since": "yesterday"}).status_code == 422
    with_workers = server.get(f"/v1/deployments/{dep_id}/logs", params={"workers": "true"}).json()
    assert with_workers["worker_logs_error"] is None


def _read_stream(server, dep_id: str, last_event_id: str | None = None, stop_after: int | None = None):
    headers = {**server.auth, **({"Last-Event-ID": last_event_id} if last_event_id else {})}
    events = []
    path = f"/v1/deployments/{dep_id}/logs/stream"
    with (
        httpx.Client(base_url=server.base_url, timeout=30) as client,
        connect_sse(client, "GET", path, headers=headers) as source,
    ):
        assert source.response.headers["content-type"].startswith("text/event-stream")
        for sse in source.iter_sse():
            events.append(sse)
            if sse.event == "done" or (stop_after and len([e for e in events if e.event == "log"]) >= stop_after):
                break
    return events


def test_sse_stream_from_first_event_to_done_and_resume_loses_nothing(server, fakes) -> None:
    fakes.runpod.ready_after_seconds = 1.0
    dep_id = deploy(server, fakes)
    first = _read_stream(server, dep_id, stop_after=3)
    logs_first = [e for e in first if e.event == "log"]
    assert len(logs_first) == 3
    rest = _read_stream(server, dep_id, last_event_id=logs_first[-1].id)
    assert rest[-1].event == "done" and rest[-1].json()["status"] == "ready"
    statuses = [e.json() for e in rest if e.event == "status"]
    assert statuses and statuses[-1]["phase"] == "ready" and statuses[-1]["progress"] == 100
    streamed = [e.id for e in logs_first] + [e.id for e in rest if e.event == "log"]
    stored = server.get(f"/v1/deployments/{dep_id}/logs", params={"tail": "1000"}).json()["data"]
    at_done = [f"{x['timestamp']}/{x['id']}" for x in stored][: len(streamed)]
    assert streamed == at_done, "the resumed stream lost or repeated a line"
    assert len(streamed) == len(set(streamed))
    # A finished deployment's stream replays and ends.
    again = _read_stream(server, dep_id)
    assert [e.id for e in again if e.event == "log"][: len(streamed)] == streamed and again[-1].event == "done"
    bad = server.get(f"/v1/deployments/{dep_id}/logs/stream", headers={"Last-Event-ID": "nonsense"})
    assert bad.status_code == 422


def test_sse_every_event_has_an_id_and_a_resume_from_a_status_repeats_nothing(server, fakes) -> None:
    fakes.runpod.ready_after_seconds = 1.0
    dep_id = deploy(server, fakes)
    live = [e for e in _read_stream(server, dep_id) if e.data]  # validating to done; not the `retry:` field
    assert all(e.id for e in live), [(e.event, e.id) for e in live if not e.id]
    statuses = [i for i, e in enumerate(live) if e.event == "status"]
    assert len(statuses) >= 2
    for index in statuses:
        resumed = _read_stream(server, dep_id, last_event_id=live[index].id)
        logs_after = [e.id for e in live[index + 1 :] if e.event == "log"]
        assert [e.id for e in resumed if e.event == "log"][: len(logs_after)] == logs_after  # nothing lost
        assert live[index].id not in [e.id for e in resumed], "a resume repeated the status it resumed from"
        assert resumed[-1].event == "done"
    after_done = [e for e in _read_stream(server, dep_id, last_event_id=live[-1].id) if e.data]
    # Only what came after `done` (finalize's and the webhook's lines may land after it), then `done` again.
    assert after_done[-1].event == "done" and all(e.event == "log" for e in after_done[:-1])
    assert not {e.id for e in after_done[:-1]} & {e.id for e in live}, "a resume after done repeated a line"


def test_worker_events_show_as_progress_errors_and_warnings(server, fakes) -> None:
    fakes.runpod.set_worker_state("initializing")
    dep_id = deploy(server, fakes)
    server.wait_status(dep_id, "downloading_model")
    headers = {SECRET_HEADER: secret_for(fakes, dep_id)}
    report = server.client.post(
        f"/internal/deployment-ready/{dep_id}",
        json={"status": "downloading_model", "progress": 50, "metadata": {"bytes": 123}},
        headers=headers,
    )
    assert report.status_code == 200
    for level, message in (("warning", "slow mirror"), ("error", "retrying shard 3"), ("info", "hello")):
        r = server.client.post(f"/internal/deployment-logs/{dep_id}", json={"level": level, "message": message},
                               headers=headers)  # fmt: skip
        assert r.status_code == 200
    denied = server.client.post(f"/internal/deployment-logs/{dep_id}", json={"level": "info", "message": "x"})
    assert denied.status_code == 401
    body = server.deployment(dep_id)
    assert body["phase"] == "downloading" and body["progress"] == 45
    assert body["warnings"] == ["slow mirror"] and body["errors"] == ["retrying shard 3"]
    assert body["worker_metadata"] == {"bytes": 123}
    assert body["estimated_ready_at"] and body["steps"][2]["name"] == "create_endpoint"
    assert body["steps"][2]["state"] == "succeeded"
    assert any(x["message"] == "Worker: hello" for x in body["logs"])


def test_steps_eta_and_cost_are_shown(server, fakes) -> None:
    dep_id, _ = ready(server, fakes)
    body = server.deployment(dep_id)
    names = [s["name"] for s in body["steps"]]
    assert names[:4] == ["validate", "select_gpu", "create_endpoint", "wait_ready"] and names[-1] == "finalize"
    assert all(s["state"] == "succeeded" and s["finished_at"] for s in body["steps"])
    assert body["estimated_ready_at"] == body["ready_at"]
    cost = body["cost"]
    assert cost["gpu_pool"] == "AMPERE_48" and cost["price_source"] == "runpod_catalog"
    assert cost["price_per_gpu_hour"] == 1.22 and cost["estimated_cost_usd"] >= 0


def test_lifecycle_routes_hide_other_tenants_deployments(server, fakes) -> None:
    dep_id = deploy(server, fakes)
    other = server.as_key(server.new_tenant_key("Other"))
    for method, path in [("GET", "/health"), ("GET", "/logs"), ("GET", "/logs/stream"), ("POST", "/stop"),
                         ("POST", "/start"), ("POST", "/scale")]:  # fmt: skip
        kw = {"json": {"min_replicas": 0, "max_replicas": 1}} if path == "/scale" else {}
        r = httpx.request(method, f"{server.base_url}/v1/deployments/{dep_id}{path}", headers=other, **kw)
        assert r.status_code == 404, (path, r.text)
    assert httpx.get(f"{server.base_url}/v1/deployments", headers=other).json()["data"] == []


# ---- names --------------------------------------------------------------------------------------


def test_a_repeated_delete_does_not_free_a_name_another_deployment_owns(server, fakes) -> None:
    a = deploy(server, fakes, deployment_name="prod")
    assert server.delete(f"/v1/deployments/{a}").status_code == 204
    b = deploy(server, fakes, deployment_name="prod")
    assert server.delete(f"/v1/deployments/{a}").status_code == 204  # A again: must not release B's name
    c = server.post("/v1/deployments", json=create_body(fakes, deployment_name="prod"))
    assert c.status_code == 409 and c.json()["details"]["deployment_name"] == "prod", c.text
    assert server.deployment(b)["deployment_name"] == "prod"
