"""End to end: green updates, rollbacks and tasks against the real server and the real local fakes."""

from __future__ import annotations

import threading
from collections import Counter

import httpx
import pytest

from tests.e2e_support import SDXL, Fakes, create_body, wait_until

SECRET_HEADER = "X-Visgate-Internal-Secret"


@pytest.fixture
def server(start_server, fakes):
    return start_server(env={**fakes.env(), "UPDATE_DRAIN_SECONDS": "2"})


def ready_deployment(server, fakes: Fakes, **overrides) -> dict:
    """A deployment that is ready with finalize done (no step left), so an update may start."""
    resp = server.post("/v1/deployments", json=create_body(fakes, **overrides))
    assert resp.status_code == 202, resp.text
    dep_id = resp.json()["deployment_id"]
    server.wait_status(dep_id, "ready")
    wait_until(lambda: _settled(server.deployment(dep_id)), message="finalize did not finish")
    return server.deployment(dep_id)


def _settled(body: dict) -> bool:
    return body["steps"][-1]["name"] == "finalize" and body["steps"][-1]["state"] != "running"


def patch(server, dep_id: str, body: dict) -> httpx.Response:
    return server.client.patch(f"/v1/deployments/{dep_id}", json=body, headers=server.auth)


def wait_task(server, task_id: str, timeout: float = 40.0) -> dict:
    box: dict = {}

    def finished() -> bool:
        box["task"] = server.get(f"/v1/tasks/{task_id}").json()
        return box["task"]["status"] in ("completed", "failed")

    wait_until(finished, timeout, f"task {task_id} did not finish:\n{server.log()}")
    return box["task"]


def test_revision_update_goes_green_and_keeps_serving(server, fakes) -> None:
    before = ready_deployment(server, fakes)
    dep_id, old_endpoint = before["deployment_id"], before["runpod_endpoint_id"]
    resp = patch(server, dep_id, {"revision": fakes.hub.models[SDXL].sha, "env": {"EXTRA": "1"}})
    assert resp.status_code == 202, resp.text
    task = resp.json()
    assert task["kind"] == "update" and task["status"] in ("pending", "in_progress")
    assert task["deployment_id"] == dep_id

    during = server.deployment(dep_id)
    assert during["status"] == "ready" and during["update"]["task_id"] == task["task_id"]
    assert during["update"]["generation"] == 2

    done = wait_task(server, task["task_id"])
    assert done["status"] == "completed", done
    after = server.deployment(dep_id)
    assert after["status"] == "ready" and after["update"] is None and after["generation"] == 2
    assert after["runpod_endpoint_id"] != old_endpoint
    assert after["endpoint_url"].endswith(f"/v2/{after['runpod_endpoint_id']}/run")
    assert [g["generation"] for g in after["generations"]] == [1, 2]
    assert after["generations"][0]["retired_at"] and after["generations"][1]["serving_at"]
    assert old_endpoint in fakes.runpod.deleted
    live = fakes.runpod.live_endpoints()
    assert [e["id"] for e in live] == [after["runpod_endpoint_id"]]
    green = live[0]
    assert green["name"].endswith(f"{dep_id}-g2") and green["env"]["EXTRA"] == "1"
    assert (
        green["env"]["MODEL_REVISION"] == fakes.hub.models[SDXL].sha
        and after["revision"] == green["env"]["MODEL_REVISION"]
    )
    assert green["env"]["ORCHESTRATOR_CALLBACK_URL"].endswith(f"/internal/deployment-ready/{dep_id}?generation=2")
    hook = fakes.webhooks.wait_for(lambda r: r.json and r.json.get("event") == "deployment.updated")
    assert hook.json["generation"] == 2 and hook.json["deployment_id"] == dep_id
    assert hook.headers.get("webhook-signature", "").startswith("v1,")
    deliveries = server.get(f"/v1/deployments/{dep_id}/webhook-deliveries").json()["data"]
    (updated,) = [d for d in deliveries if d["event"] == "deployment.updated"]
    replay = server.post(f"/v1/deployments/{dep_id}/webhook-deliveries/{updated['delivery_id']}/redeliver")
    assert replay.status_code == 202, replay.text
    wait_until(lambda: len(fakes.webhooks.by_event("deployment.updated")) == 2)
    assert {h.headers["webhook-id"] for h in fakes.webhooks.by_event("deployment.updated")} == {
        hook.headers["webhook-id"]
    }
    listed = server.get(f"/v1/deployments/{dep_id}/tasks").json()["data"]
    assert [t["kind"] for t in listed] == ["deploy", "update"]
    assert all(t["status"] == "completed" for t in listed)


def green_endpoint(fakes: Fakes, dep_id: str, generation: int = 2) -> dict:
    box: dict = {}

    def created() -> bool:
        named = [e for e in fakes.runpod.created if e["name"].endswith(f"{dep_id}-g{generation}")]
        box["e"] = named[0] if named else None
        return bool(named)

    wait_until(created, message="the green endpoint was not created")
    return box["e"]


def hold_greens(fakes: Fakes, serving_endpoint: str) -> None:
    """Green workers stay starting (until they report); the serving endpoint keeps running jobs."""
    fakes.runpod.set_worker_state("initializing")
    fakes.runpod.set_worker_state("idle", serving_endpoint)


def report(server, endpoint: dict, body: dict) -> httpx.Response:
    env = endpoint["env"]
    return server.client.post(env["ORCHESTRATOR_CALLBACK_URL"], json=body,
                              headers={SECRET_HEADER: env["ORCHESTRATOR_CALLBACK_SECRET"]})  # fmt: skip


def runsync(server, dep_id: str, n: int) -> httpx.Response:
    return server.post(f"/v1/deployments/{dep_id}/runsync", json={"input": {"n": n}})


def test_gpu_change_moves_endpoint_gpu_and_vram_together(server, fakes) -> None:
    before = ready_deployment(server, fakes)
    dep_id = before["deployment_id"]
    resp = patch(server, dep_id, {"gpu_tier": "H100"})
    assert resp.status_code == 202, resp.text
    assert wait_task(server, resp.json()["task_id"])["status"] == "completed"
    after = server.deployment(dep_id)
    assert after["gpu_allocated"] != before["gpu_allocated"] and after["gpu_pools"][0] == after["gpu_allocated"]
    green = fakes.runpod.endpoints[after["runpod_endpoint_id"]]
    assert green["gpu"]["pools"][0] == after["gpu_allocated"] if "gpu" in green else True
    assert after["generations"][-1]["gpu_allocated"] == after["gpu_allocated"]
    assert before["runpod_endpoint_id"] in fakes.runpod.deleted


def test_failing_green_leaves_the_old_endpoint_serving(server, fakes) -> None:
    before = ready_deployment(server, fakes)
    dep_id, serving = before["deployment_id"], before["runpod_endpoint_id"]
    hold_greens(fakes, serving)
    resp = patch(server, dep_id, {"env": {"CRASH": "1"}})
    assert resp.status_code == 202
    green = green_endpoint(fakes, dep_id)
    assert runsync(server, dep_id, 1).json()["status"] == "COMPLETED"
    assert report(server, green, {"status": "failed", "message": "CUDA error"}).status_code == 200
    task = wait_task(server, resp.json()["task_id"])
    assert task["status"] == "failed" and task["error"]["code"] == "worker_failed"
    after = server.deployment(dep_id)
    assert after["status"] == "ready" and after["runpod_endpoint_id"] == serving and after["generation"] == 1
    assert after["last_update_error"]["code"] == "worker_failed" and after["update"] is None
    assert [e["id"] for e in fakes.runpod.live_endpoints()] == [serving]
    assert green["id"] in fakes.runpod.deleted
    assert runsync(server, dep_id, 2).json()["status"] == "COMPLETED"
    hook = fakes.webhooks.wait_for(lambda r: r.json and r.json.get("event") == "deployment.update_failed")
    assert hook.json["error"]["code"] == "worker_failed" and hook.json["generation"] == 1


def test_an_unknown_revision_fails_the_update_before_any_endpoint(server, fakes) -> None:
    dep = ready_deployment(server, fakes)
    resp = patch(server, dep["deployment_id"], {"revision": "no-such-branch"})
    task = wait_task(server, resp.json()["task_id"])
    assert task["status"] == "failed" and task["error"]["code"] == "model_not_found"
    assert task["error"]["step"] == "update_validate"
    assert len(fakes.runpod.created) == 1 and server.deployment(dep["deployment_id"])["status"] == "ready"


def test_rollback_brings_back_the_previous_configuration(server, fakes) -> None:
    dep_id = ready_deployment(server, fakes)["deployment_id"]
    assert server.post(f"/v1/deployments/{dep_id}/rollback").status_code == 409  # nothing to roll back to
    first = patch(server, dep_id, {"env": {"MODE": "new"}}).json()
    assert wait_task(server, first["task_id"])["status"] == "completed"
    resp = server.post(f"/v1/deployments/{dep_id}/rollback")
    assert resp.status_code == 202 and resp.json()["kind"] == "rollback"
    assert wait_task(server, resp.json()["task_id"])["status"] == "completed"
    after = server.deployment(dep_id)
    assert after["generation"] == 3 and [g["generation"] for g in after["generations"]] == [1, 2, 3]
    assert after["generations"][2]["config"] == after["generations"][0]["config"]
    serving = fakes.runpod.endpoints[after["runpod_endpoint_id"]]
    assert "MODE" not in serving["env"] and len(fakes.runpod.live_endpoints()) == 1


def test_delete_during_an_update_removes_both_endpoints(server, fakes) -> None:
    before = ready_deployment(server, fakes)
    dep_id = before["deployment_id"]
    hold_greens(fakes, before["runpod_endpoint_id"])
    task_id = patch(server, dep_id, {"env": {"X": "1"}}).json()["task_id"]
    green = green_endpoint(fakes, dep_id)
    wait_until(lambda: server.deployment(dep_id)["update"]["phase"] == "downloading")
    assert server.delete(f"/v1/deployments/{dep_id}").status_code == 204
    server.wait_status(dep_id, "deleted")
    assert fakes.runpod.live_endpoints() == []
    assert {before["runpod_endpoint_id"], green["id"]} <= set(fakes.runpod.deleted)
    task = wait_task(server, task_id)
    assert task["status"] == "failed" and task["error"]["code"] == "cancelled"
    kinds = {t["kind"]: t["status"] for t in server.get(f"/v1/deployments/{dep_id}/tasks").json()["data"]}
    assert kinds == {"deploy": "completed", "update": "failed", "delete": "completed"}


def test_one_update_at_a_time_and_reports_of_other_generations_change_nothing(server, fakes) -> None:
    before = ready_deployment(server, fakes)
    dep_id = before["deployment_id"]
    hold_greens(fakes, before["runpod_endpoint_id"])
    task_id = patch(server, dep_id, {"env": {"X": "1"}}).json()["task_id"]
    again = patch(server, dep_id, {"gpu_tier": "H100"})
    assert again.status_code == 409 and again.json()["details"]["task_id"] == task_id
    assert server.post(f"/v1/deployments/{dep_id}/rollback").status_code == 409
    green = green_endpoint(fakes, dep_id)
    # The serving generation's secret does not speak for the green, nor the green's for the serving one.
    serving_env = fakes.runpod.endpoints[before["runpod_endpoint_id"]]["env"]
    url = green["env"]["ORCHESTRATOR_CALLBACK_URL"]
    forged = server.client.post(url, json={"status": "ready"},
                                headers={SECRET_HEADER: serving_env["ORCHESTRATOR_CALLBACK_SECRET"]})  # fmt: skip
    assert forged.status_code == 401
    plain = url.split("?")[0]
    wrong = server.client.post(plain, json={"status": "failed"},
                               headers={SECRET_HEADER: green["env"]["ORCHESTRATOR_CALLBACK_SECRET"]})  # fmt: skip
    assert wrong.status_code == 401
    # Progress and a duplicated ready of the green: the deployment stays ready, one switch happens.
    assert report(server, green, {"status": "loading_model", "progress": 50}).json()["status"] == "ready"
    assert server.deployment(dep_id)["update"]["phase"] == "loading"
    for _ in range(3):
        assert report(server, green, {"status": "ready"}).status_code == 200
    assert wait_task(server, task_id)["status"] == "completed"
    after = server.deployment(dep_id)
    assert after["runpod_endpoint_id"] == green["id"] and after["status"] == "ready"
    assert len([line for line in after["logs"] if "switched to generation 2" in line["message"]]) == 1
    # Late reports: the retired generation's and the serving green's own change nothing.
    old = {"ORCHESTRATOR_CALLBACK_URL": serving_env["ORCHESTRATOR_CALLBACK_URL"],
           "ORCHESTRATOR_CALLBACK_SECRET": serving_env["ORCHESTRATOR_CALLBACK_SECRET"]}  # fmt: skip
    assert report(server, {"env": old}, {"status": "failed"}).status_code == 200
    assert report(server, green, {"status": "failed"}).status_code == 200
    final = server.deployment(dep_id)
    assert final["status"] == "ready" and final["runpod_endpoint_id"] == green["id"] and final["error"] is None


def test_a_lost_green_create_is_adopted_not_repeated(server, fakes) -> None:
    dep_id = ready_deployment(server, fakes)["deployment_id"]
    fakes.runpod.fail_next("POST", "/v2/serverless", "lost_create")
    task_id = patch(server, dep_id, {"env": {"X": "2"}}).json()["task_id"]
    assert wait_task(server, task_id)["status"] == "completed"
    after = server.deployment(dep_id)
    named = [e for e in fakes.runpod.created if e["name"].endswith(f"{dep_id}-g2")]
    assert len(named) == 1 and named[0]["id"] == after["runpod_endpoint_id"]
    assert "adopted" in " ".join(line["message"] for line in after["logs"])


def test_in_place_update_patches_the_live_endpoint(server, fakes) -> None:
    dep = ready_deployment(server, fakes)
    dep_id, endpoint = dep["deployment_id"], dep["runpod_endpoint_id"]
    resp = patch(server, dep_id, {"max_replicas": 3, "idle_timeout_seconds": 60})
    assert resp.status_code == 202 and resp.json()["status"] == "completed", resp.text
    after = server.deployment(dep_id)
    assert after["runpod_endpoint_id"] == endpoint and after["max_replicas"] == 3
    assert after["idle_timeout_seconds"] == 60 and after["generation"] == 1
    workers = fakes.runpod.endpoints[endpoint]["workers"]
    assert workers["max"] == 3 and workers["idleTimeout"] == 60
    assert len(fakes.runpod.created) == 1


def test_jobs_through_the_proxy_never_fail_during_an_update(server, fakes) -> None:
    dep = ready_deployment(server, fakes)
    dep_id = dep["deployment_id"]
    stop, answers = threading.Event(), []

    def load() -> None:
        n = 0
        with httpx.Client(base_url=server.base_url, headers=server.auth, timeout=30) as client:
            while not stop.is_set():
                n += 1
                r = client.post(f"/v1/deployments/{dep_id}/runsync", json={"input": {"n": n}})
                answers.append((r.status_code, r.json().get("status")))

    thread = threading.Thread(target=load)
    thread.start()
    try:
        task_id = patch(server, dep_id, {"env": {"V": "2"}}).json()["task_id"]
        assert wait_task(server, task_id)["status"] == "completed"
        after = server.deployment(dep_id)
        served_by_new = lambda: any(  # noqa: E731
            j["endpoint_id"] == after["runpod_endpoint_id"] for j in list(fakes.runpod.jobs.values())
        )
        wait_until(served_by_new, message="no job reached the new endpoint")
    finally:
        stop.set()
        thread.join(30)
    assert answers and all(a == (200, "COMPLETED") for a in answers), [a for a in answers if a != (200, "COMPLETED")]
    by_endpoint = {j["endpoint_id"] for j in list(fakes.runpod.jobs.values())}
    assert {dep["runpod_endpoint_id"], after["runpod_endpoint_id"]} <= by_endpoint


def test_seed_003_task_routes(server, fakes) -> None:
    config = {"user_runpod_key": "rpa_test", "gpu_tier": "A40"}
    resp = server.post("/deploy", json={"model_id": SDXL, "config": config})
    assert resp.status_code == 202, resp.text
    deploy = resp.json()
    assert set(deploy) == {"task_id", "status", "metadata"} and deploy["status"] in ("pending", "in_progress")
    dep_id = deploy["metadata"]["deployment_id"]
    wait_until(lambda: server.get(f"/deploy/{deploy['task_id']}").json()["status"] == "completed")
    assert server.get(f"/deploy-status/{SDXL}").json()["task_id"] == deploy["task_id"]
    wait_until(lambda: _settled(server.deployment(dep_id)))

    # Deploying the same model again updates the tenant's deployment green.
    update = server.post("/deploy", json={"model_id": SDXL, "config": {"env": {"V": "2"}}}).json()
    assert update["task_id"] != deploy["task_id"] and update["metadata"]["kind"] == "update"
    assert update["metadata"]["deployment_id"] == dep_id
    wait_until(lambda: server.get(f"/deploy/{update['task_id']}").json()["status"] == "completed", 40)
    assert server.get(f"/deploy-status/{SDXL}").json()["task_id"] == update["task_id"]
    assert server.deployment(dep_id)["generation"] == 2

    # Another tenant sees none of it.
    other = server.as_key(server.new_tenant_key("Other"))
    assert server.client.get(f"/deploy/{deploy['task_id']}", headers=other).status_code == 404
    assert server.client.get(f"/deploy-status/{SDXL}", headers=other).status_code == 404
    assert server.client.post("/delete", json={"model_id": SDXL}, headers=other).status_code == 404

    assert server.get("/delete-status/stabilityai/sdxl-turbo").status_code == 404
    deleted = server.post("/delete", json={"model_id": SDXL})
    assert deleted.status_code == 202, deleted.text
    task_id = deleted.json()["task_id"]
    wait_until(lambda: server.get(f"/delete/{task_id}").json()["status"] == "completed")
    assert server.get(f"/delete-status/{SDXL}").json()["task_id"] == task_id
    assert server.get(f"/deploy/{task_id}").status_code == 404  # a delete task is not a deploy task
    assert fakes.runpod.live_endpoints() == []
    missing = server.get("/deploy/task_nope")
    assert missing.status_code == 404 and missing.json()["error"] == "NotFoundError"


def test_the_event_stream_carries_the_update_until_it_ends(server, fakes) -> None:
    dep_id = ready_deployment(server, fakes)["deployment_id"]
    task_id = patch(server, dep_id, {"env": {"S": "1"}}).json()["task_id"]
    events: list[tuple[str, str]] = []
    with server.client.stream("GET", f"/v1/deployments/{dep_id}/logs/stream", headers=server.auth, timeout=60) as r:
        name = ""
        for line in r.iter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                events.append((name, line[6:]))
    updates = [data for name, data in events if name == "status" and task_id in data]
    assert updates, events
    assert all('"generation":2' in d for d in updates)
    assert events[-1][0] == "done" and '"update":null' in events[-1][1]
    assert any("switched to generation 2" in data for name, data in events if name == "log")


def test_the_reconciler_removes_a_failed_updates_green_and_leaves_a_running_one(start_server, fakes) -> None:
    from tests.test_reconciler import MANUAL, reconcile_now

    server = start_server(env={**fakes.env(), **MANUAL, "CLEANUP_MAX_ATTEMPTS": "1"})
    before = ready_deployment(server, fakes)
    dep_id, serving = before["deployment_id"], before["runpod_endpoint_id"]
    hold_greens(fakes, serving)
    task_id = patch(server, dep_id, {"env": {"A": "1"}}).json()["task_id"]
    green = green_endpoint(fakes, dep_id)
    fakes.runpod.fail_next("DELETE", f"/v2/serverless/{green['id']}", "status", count=50, status=403)
    assert report(server, green, {"status": "failed"}).status_code == 200
    assert wait_task(server, task_id)["status"] == "failed"
    assert green["id"] in fakes.runpod.endpoints, "the abort could not remove it: a leak for the reconciler"

    second = patch(server, dep_id, {"env": {"A": "2"}}).json()["task_id"]
    running = green_endpoint(fakes, dep_id, generation=3)
    with fakes.runpod.lock:
        fakes.runpod.scripted = type(fakes.runpod.scripted)()  # Runpod deletes it again
    stats = reconcile_now(server)
    assert stats.get("orphans_deleted") == 1, stats
    assert green["id"] not in fakes.runpod.endpoints
    assert running["id"] in fakes.runpod.endpoints and serving in fakes.runpod.endpoints
    assert server.get(f"/v1/tasks/{second}").json()["status"] == "in_progress"
    assert "neither serving nor being brought up" in " ".join(x["message"] for x in server.deployment(dep_id)["logs"])


def test_duplicate_and_late_green_step_tasks_change_nothing(start_server, fakes) -> None:
    from shared.platform.crypto import keyed_hash
    from tests.test_reconciler import MANUAL, SECRET

    server = start_server(env={**fakes.env(), **MANUAL})
    dep_id = ready_deployment(server, fakes)["deployment_id"]
    task_id = patch(server, dep_id, {"env": {"D": "1"}}).json()["task_id"]
    assert wait_task(server, task_id)["status"] == "completed"
    after = server.deployment(dep_id)
    token = {"Authorization": f"Bearer {keyed_hash(SECRET, 'local-queue', 'task-token')}"}
    answers = Counter()
    for step in ("update_validate", "update_create", "update_wait", "update_switch", "update_drain", "update_retire",
                 "update_abort"):  # fmt: skip
        for seq in range(1, 30):
            task = {"kind": "step", "deployment_id": dep_id, "step": step, "seq": seq}
            answers[server.client.post("/internal/steps", json=task, headers=token).status_code] += 1
    assert set(answers) <= {200, 503}, answers  # stale: a 2xx no-op; ahead of its commit: "not yet"
    again = server.deployment(dep_id)
    assert again["runpod_endpoint_id"] == after["runpod_endpoint_id"] and again["generation"] == 2
    assert again["update"] is None and again["status"] == "ready"
    assert len(fakes.runpod.created) == 2 and len(fakes.runpod.live_endpoints()) == 1
    assert server.get(f"/v1/tasks/{task_id}").json()["status"] == "completed"


def test_a_job_sent_before_the_switch_is_followed_on_the_draining_endpoint(server, fakes) -> None:
    before = ready_deployment(server, fakes)
    dep_id, serving = before["deployment_id"], before["runpod_endpoint_id"]
    hold_greens(fakes, serving)
    fakes.runpod.set_worker_state("initializing", serving)  # the job waits in the old endpoint's queue
    task_id = patch(server, dep_id, {"env": {"J": "1"}}).json()["task_id"]
    job = server.post(f"/v1/deployments/{dep_id}/run", json={"input": {"n": 1}}).json()
    assert job["status"] == "IN_QUEUE"
    green = green_endpoint(fakes, dep_id)
    assert report(server, green, {"status": "ready"}).status_code == 200
    wait_until(lambda: (server.deployment(dep_id)["update"] or {}).get("state") == "retiring")
    assert server.deployment(dep_id)["runpod_endpoint_id"] == green["id"]
    fakes.runpod.set_worker_state("idle", serving)
    polled = server.get(f"/v1/deployments/{dep_id}/status/{job['id']}")
    assert polled.status_code == 200 and polled.json()["id"] == job["id"], polled.text
    assert wait_task(server, task_id)["status"] == "completed"
    assert serving in fakes.runpod.deleted
