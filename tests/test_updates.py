"""End to end: green updates, rollbacks and tasks against the real server and the real local fakes."""

from __future__ import annotations

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
    assert green["env"]["ORCHESTRATOR_CALLBACK_URL"].endswith(f"/internal/deployment-ready/{dep_id}?generation=2")
    hook = fakes.webhooks.wait_for(lambda r: r.json and r.json.get("event") == "deployment.updated")
    assert hook.json["generation"] == 2 and hook.json["deployment_id"] == dep_id
    listed = server.get(f"/v1/deployments/{dep_id}/tasks").json()["data"]
    assert [t["kind"] for t in listed] == ["deploy", "update"]
    assert all(t["status"] == "completed" for t in listed)
