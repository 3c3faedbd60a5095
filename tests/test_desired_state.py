"""Scale, stop and start race each other and Runpod's slowness: the last accepted request wins in the API and
at Runpod alike (issue 11 items 2 and 4). Races are forced with the fake Runpod holding a PATCH's answer."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.e2e_support import create_body, wait_until


@pytest.fixture
def server(start_server, fakes):
    return start_server(env={**fakes.env(), "RECONCILE_INTERVAL_SECONDS": "1"})


def ready(server, fakes, **overrides) -> tuple[str, str]:
    resp = server.post("/v1/deployments", json=create_body(fakes, **overrides))
    assert resp.status_code == 202, resp.text
    dep_id = resp.json()["deployment_id"]
    body = server.wait_status(dep_id, "ready")
    wait_until(lambda: server.deployment(dep_id)["steps"][-1]["name"] == "finalize"
               and server.deployment(dep_id)["steps"][-1]["state"] == "succeeded")  # fmt: skip
    return dep_id, body["runpod_endpoint_id"]


def runpod_workers(fakes, endpoint_id: str) -> tuple[int, int]:
    workers = fakes.runpod.endpoints[endpoint_id]["workers"]
    return workers["min"], workers["max"]


def api_state(server, dep_id: str) -> tuple[str, int, int]:
    body = server.deployment(dep_id)
    return body["status"], body["min_replicas"], body["max_replicas"]


def race(server, fakes, endpoint_id: str, first, second, second_accepted) -> tuple:
    """`first` runs until Runpod has done its PATCH, whose answer is held; `second` runs until the API shows it
    accepted (`second_accepted`); then Runpod answers. Returns both HTTP answers."""
    hold = fakes.runpod.hold_next("PATCH", f"/v2/serverless/{endpoint_id}", after=True)
    with ThreadPoolExecutor(2) as pool:
        a = pool.submit(first)
        assert hold.arrived.wait(10), "the first request never reached Runpod"
        b = pool.submit(second)
        wait_until(lambda: second_accepted() or b.done(), message="the second request was never accepted")
        hold.release()
        return a.result(timeout=30), b.result(timeout=30)


def test_stop_then_scale_leaves_it_paused_at_zero(server, fakes) -> None:
    dep_id, ep = ready(server, fakes)
    stop, scale = race(
        server, fakes, ep,
        lambda: server.post(f"/v1/deployments/{dep_id}/stop"),
        lambda: server.post(f"/v1/deployments/{dep_id}/scale", json={"min_replicas": 1, "max_replicas": 2}),
        lambda: server.deployment(dep_id)["min_replicas"] == 1,
    )  # fmt: skip
    assert stop.status_code == 200 and scale.status_code == 200, (stop.text, scale.text)
    assert api_state(server, dep_id) == ("paused", 1, 2)  # the scale is remembered for start
    assert server.deployment(dep_id)["paused_reason"] == "user"
    assert runpod_workers(fakes, ep) == (0, 0), "a paused deployment must not keep workers"
    assert server.post(f"/v1/deployments/{dep_id}/start").json()["update_result"] == "started"
    assert api_state(server, dep_id) == ("ready", 1, 2) and runpod_workers(fakes, ep) == (1, 2)


def test_two_scales_the_last_one_wins_everywhere(server, fakes) -> None:
    dep_id, ep = ready(server, fakes)
    first, second = race(
        server, fakes, ep,
        lambda: server.post(f"/v1/deployments/{dep_id}/scale", json={"min_replicas": 1, "max_replicas": 3}),
        lambda: server.post(f"/v1/deployments/{dep_id}/scale", json={"min_replicas": 2, "max_replicas": 4}),
        lambda: server.deployment(dep_id)["min_replicas"] == 2,
    )  # fmt: skip
    assert first.status_code == 200 and second.status_code == 200, (first.text, second.text)
    assert second.json()["min_replicas"] == 2 and second.json()["max_replicas"] == 4
    assert api_state(server, dep_id) == ("ready", 2, 4)
    assert runpod_workers(fakes, ep) == (2, 4)


def test_start_racing_a_scale_applies_the_scale(server, fakes) -> None:
    dep_id, ep = ready(server, fakes)
    assert server.post(f"/v1/deployments/{dep_id}/stop").status_code == 200
    start, scale = race(
        server, fakes, ep,
        lambda: server.post(f"/v1/deployments/{dep_id}/start"),
        lambda: server.post(f"/v1/deployments/{dep_id}/scale", json={"min_replicas": 2, "max_replicas": 3}),
        lambda: server.deployment(dep_id)["min_replicas"] == 2,
    )  # fmt: skip
    assert start.status_code == 200 and scale.status_code == 200, (start.text, scale.text)
    assert api_state(server, dep_id) == ("ready", 2, 3)
    assert runpod_workers(fakes, ep) == (2, 3)


def test_scale_then_stop_ends_paused(server, fakes) -> None:
    dep_id, ep = ready(server, fakes)
    scale, stop = race(
        server, fakes, ep,
        lambda: server.post(f"/v1/deployments/{dep_id}/scale", json={"min_replicas": 1, "max_replicas": 2}),
        lambda: server.post(f"/v1/deployments/{dep_id}/stop"),
        lambda: server.deployment(dep_id)["status"] == "paused",
    )  # fmt: skip
    assert scale.status_code == 200 and stop.status_code == 200, (scale.text, stop.text)
    assert api_state(server, dep_id) == ("paused", 1, 2)
    assert runpod_workers(fakes, ep) == (0, 0)


def test_finalize_giving_up_is_corrected_once_runpod_recovers(start_server, fakes) -> None:
    server = start_server(env={**fakes.env(), "RECONCILE_INTERVAL_SECONDS": "1", "STEP_TIMEOUT_SECONDS": "2"})
    fakes.runpod.fail_next("PATCH", "/v2/serverless/", "status", count=1000, status=503)
    resp = server.post("/v1/deployments", json=create_body(fakes))
    dep_id = resp.json()["deployment_id"]
    ep = server.wait_status(dep_id, "ready")["runpod_endpoint_id"]
    wait_until(lambda: server.deployment(dep_id)["steps"][-1]["state"] == "failed", timeout=30,
               message="finalize never gave up")  # fmt: skip
    assert runpod_workers(fakes, ep) == (1, 1), "the provisioning worker is still forced up"
    with fakes.runpod.lock:
        fakes.runpod.scripted.pending.clear()  # Runpod recovers
    wait_until(lambda: runpod_workers(fakes, ep) == (0, 1), timeout=20,
               message="the reconciler never scaled the endpoint to its desired 0/1")  # fmt: skip
    logs = [x["message"] for x in server.get(f"/v1/deployments/{dep_id}/logs", params={"tail": "200"}).json()["data"]]
    assert any("Reconciler: Runpod workers are 1/1, desired 0/1" in m for m in logs), logs


def test_scale_during_a_runpod_outage_is_saved_and_applied_later(server, fakes) -> None:
    dep_id, ep = ready(server, fakes)
    fakes.runpod.fail_next("PATCH", f"/v2/serverless/{ep}", "status", count=1000, status=503)
    resp = server.post(f"/v1/deployments/{dep_id}/scale", json={"min_replicas": 1, "max_replicas": 2})
    assert resp.status_code == 503 and resp.json()["details"]["saved"] is True, resp.text
    assert resp.headers["Retry-After"]
    assert api_state(server, dep_id) == ("ready", 1, 2) and runpod_workers(fakes, ep) == (0, 1)
    with fakes.runpod.lock:
        fakes.runpod.scripted.pending.clear()
    wait_until(lambda: runpod_workers(fakes, ep) == (1, 2), timeout=20, message="the saved scale was never applied")


def test_quota_refusal_of_a_start_keeps_it_paused(server, fakes) -> None:
    dep_id, ep = ready(server, fakes)
    assert server.post(f"/v1/deployments/{dep_id}/stop").status_code == 200
    assert (
        server.post(f"/v1/deployments/{dep_id}/scale", json={"min_replicas": 0, "max_replicas": 8}).status_code == 200
    )
    fakes.runpod.max_workers_quota = 5
    resp = server.post(f"/v1/deployments/{dep_id}/start")
    assert resp.status_code == 400 and resp.json()["message"].startswith("Insufficient GPU quota"), resp.text
    assert api_state(server, dep_id) == ("paused", 0, 8) and runpod_workers(fakes, ep) == (0, 0)


def test_fake_runpod_holds_a_request_before_or_after_its_work() -> None:
    from tests.fakes.runpod import FakeRunpod

    body = {"name": "do-x", "type": "QUEUE", "image": "i:1", "gpu": {"pools": ["AMPERE_48"], "count": 1},
            "workers": {"min": 0, "max": 1}, "scaling": {"type": "QUEUE_DELAY", "queueDelay": 4}}  # fmt: skip
    with FakeRunpod() as fake, ThreadPoolExecutor(2) as pool:
        headers = {"Authorization": "Bearer rpa_test"}
        before = fake.hold_next("POST", "/v2/serverless")
        created = pool.submit(httpx.post, f"{fake.base_url}/v2/serverless", json=body, headers=headers)
        assert before.arrived.wait(10)
        assert fake.live_endpoints() == [], "held before its work: nothing created yet"
        assert httpx.get(f"{fake.base_url}/v2/serverless", headers=headers).status_code == 200  # others go on
        before.release()
        ep = created.result(10).json()["id"]
        after = fake.hold_next("PATCH", f"/v2/serverless/{ep}", after=True)
        patch = {"workers": {"min": 1, "max": 2}}
        patched = pool.submit(httpx.patch, f"{fake.base_url}/v2/serverless/{ep}", json=patch, headers=headers)
        assert after.arrived.wait(10)
        assert fake.endpoints[ep]["workers"]["min"] == 1 and not patched.done(), "done, only the answer is held"
        after.release()
        assert patched.result(10).status_code == 200
