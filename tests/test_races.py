"""Races between a step and what happens around it: worker callbacks, a DELETE, a revoked key.

Each race is forced, not hoped for: the fake Runpod runs the simulated worker before it answers the
create (whose answer it then loses), or holds a health check while the test deletes.
"""

from __future__ import annotations

import time

from tests.e2e_support import create_body, endpoint_name, wait_until
from tests.fakes.worker_sim import FULL_SCRIPT, WorkerSim


def deploy(server, fakes, **overrides) -> str:
    resp = server.post("/v1/deployments", json=create_body(fakes, **overrides))
    assert resp.status_code == 202, resp.text
    return resp.json()["deployment_id"]


def ready_hooks(fakes, dep_id: str) -> list:
    return [
        r
        for r in fakes.webhooks.received
        if r.json and r.json.get("event") == "deployment.ready" and r.json.get("deployment_id") == dep_id
    ]


def test_lost_create_with_the_worker_ready_before_adoption_ends_ready_once(start_server, fakes) -> None:
    """The worker reports downloading, loading and ready while the create's answer is being lost."""
    sim = WorkerSim(fakes.runpod, background=False).attach()
    fakes.runpod.fail_next("POST", "/v2/serverless", "lost_create")
    server = start_server(env=fakes.env())
    dep_id = deploy(server, fakes)

    body = server.wait_status(dep_id, "ready")
    assert [status for _, status, _ in sim.replies] == [r["status"] for r in FULL_SCRIPT]
    assert all(code == 200 for _, _, code in sim.replies), sim.replies
    (endpoint,) = fakes.runpod.created
    assert body["runpod_endpoint_id"] == endpoint["id"]
    # finalize ran (scaled to zero at rest), then no second webhook can be on its way.
    wait_until(lambda: fakes.runpod.endpoints[endpoint["id"]]["workers"]["min"] == 0)
    wait_until(lambda: ready_hooks(fakes, dep_id))
    assert len(ready_hooks(fakes, dep_id)) == 1
    assert len(fakes.runpod.created_by_name(endpoint_name(dep_id))) == 1
    messages = " | ".join(x["message"] for x in server.deployment(dep_id)["logs"])
    assert "before endpoint" in messages


def test_lost_create_with_the_worker_loading_before_adoption_still_gets_ready(start_server, fakes) -> None:
    """The worker got to loading_model before the create step adopted its endpoint: no backwards move, no stall."""
    script = tuple(r for r in FULL_SCRIPT if r["status"] != "ready")
    WorkerSim(fakes.runpod, script=script, background=False).attach()
    fakes.runpod.fail_next("POST", "/v2/serverless", "lost_create")
    server = start_server(env=fakes.env())
    dep_id = deploy(server, fakes)

    wait_until(lambda: fakes.runpod.created, message="no endpoint was created")
    (endpoint,) = fakes.runpod.created
    wait_until(lambda: server.deployment(dep_id)["runpod_endpoint_id"] == endpoint["id"], message="never adopted")
    body = server.deployment(dep_id)
    assert body["status"] == "loading_model"  # kept: the worker's report is ahead of the step's move
    fakes.runpod.set_worker_state("idle", endpoint["id"])  # the handler started; the health poll sees it
    server.wait_status(dep_id, "ready", timeout=20)
    wait_until(lambda: ready_hooks(fakes, dep_id))
    assert len(fakes.runpod.created_by_name(endpoint_name(dep_id))) == 1


def test_delete_during_the_readiness_poll_is_not_held_up_by_the_lease(start_server, fakes) -> None:
    """A DELETE while wait_ready waits for Runpod's health answer: the cleanup starts when the step ends,
    not when its (60 s) lease would expire."""
    fakes.runpod.set_worker_state("initializing")  # keeps wait_ready polling
    fakes.runpod.faults.timeout_seconds = 2.0  # a held health check answers 504 after 2 s
    server = start_server(env={**fakes.env(), "STEP_LEASE_SECONDS": "60", "HTTP_TIMEOUT_SECONDS": "5"})
    dep_id = deploy(server, fakes)
    endpoint_id = server.wait_status(dep_id, "downloading_model")["runpod_endpoint_id"]
    fakes.runpod.fail_next("GET", f"/v2/{endpoint_id}/health", "timeout")  # the next health check is held
    wait_until(lambda: fakes.runpod.fault_counts["timeout"] == 1, message="the health check was never held")

    started = time.monotonic()
    assert server.delete(f"/v1/deployments/{dep_id}").status_code == 204
    body = server.wait_status(dep_id, {"deleted", "cleanup_failed"}, timeout=15)
    assert body["status"] == "deleted", body
    assert time.monotonic() - started < 15  # liveness bound, far below the 60 s lease
    assert fakes.runpod.live_endpoints() == []


def test_a_revoked_key_during_cleanup_says_why_and_what_to_do(start_server, fakes) -> None:
    server = start_server(env=fakes.env())
    dep_id = deploy(server, fakes)
    server.wait_status(dep_id, "ready")
    fakes.runpod.valid_keys.discard("rpa_test")  # the key was rotated at Runpod
    assert server.delete(f"/v1/deployments/{dep_id}").status_code == 204
    body = server.wait_status(dep_id, "cleanup_failed")
    error = body["deletion"]["error"]
    assert body["deletion"]["state"] == "failed" and error, body["deletion"]
    assert "401" in error and "PUT /v1/credentials/" in error and f"/v1/deployments/{dep_id}/credential" in error
    assert "reconciler keeps trying" in error
