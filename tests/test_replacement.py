"""Re-placement: an endpoint whose pools find no GPU is widened after PLACEMENT_TIMEOUT_SECONDS.

End to end against the fake Runpod's capacity model (`simulate_capacity`: a pool without stock or a
free slot keeps the worker throttled; a placed worker is ready after its pool's cold start), with the
user's price ceiling, duplicated and late step tasks, and every way the endpoint update can go wrong.
SDXL fits every pool; with the fake's catalog all HIGH, the first choice is the three cheapest:
AMPERE_16, AMPERE_24, ADA_24 (then AMPERE_48 1.22, ADA_48_PRO 1.91, AMPERE_80 2.74 $/GPU-hour).
"""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest

from shared.platform.crypto import keyed_hash
from tests.e2e_support import BIG, create_body, wait_until
from tests.test_lifecycle import _read_stream
from tests.test_reconciler import MANUAL, SECRET

FIRST = ["AMPERE_16", "AMPERE_24", "ADA_24"]
NEXT = ["AMPERE_48", "ADA_48_PRO", "AMPERE_80"]
ENDPOINTS = "/v2/serverless/"


@pytest.fixture
def server(start_server, fakes):
    fakes.runpod.simulate_capacity(cold_starts={"AMPERE_48": 1.5}, capacity=dict.fromkeys(FIRST, 0))
    env = {**fakes.env(), **MANUAL, "PLACEMENT_TIMEOUT_SECONDS": "1", "READY_POLL_INTERVAL_SECONDS": "0.2"}
    return start_server(env=env)


def deploy(server, fakes, **overrides) -> str:
    resp = server.post("/v1/deployments", json=create_body(fakes, gpu_tier="auto", **overrides))
    assert resp.status_code == 202, resp.text
    return resp.json()["deployment_id"]


def pool_patches(fakes) -> list[list[str]]:
    """The pool lists the product PATCHed onto endpoints, in order."""
    return [r.json["gpu"]["pools"] for r in fakes.runpod.requests_to("PATCH", ENDPOINTS) if "gpu" in (r.json or {})]


def history(server, dep_id: str) -> list[dict]:
    return (server.deployment(dep_id)["placement"] or {}).get("history") or []


def log_lines(server, dep_id: str) -> list[dict]:
    return server.get(f"/v1/deployments/{dep_id}/logs", params={"tail": "1000"}).json()["data"]


def test_a_throttled_endpoint_is_widened_with_history_log_and_sse(server, fakes) -> None:
    dep_id = deploy(server, fakes)
    events: list = []
    reader = threading.Thread(target=lambda: events.extend(_read_stream(server, dep_id)))
    reader.start()
    body = server.wait_status(dep_id, "ready")
    reader.join(30)

    (change,) = body["placement"]["history"]
    assert change["state"] == "applied" and change["window"] == 1
    assert change["previous_pools"] == FIRST and change["added_pools"] == NEXT and change["pools"] == FIRST + NEXT
    assert "no worker started within 1 s" in change["reason"] and "1 throttled" in change["reason"]
    assert body["gpu_pools"] == body["placement"]["chosen"] == FIRST + NEXT
    endpoint_id = body["runpod_endpoint_id"]
    assert fakes.runpod.endpoints[endpoint_id]["gpu"]["pools"] == FIRST + NEXT
    assert fakes.runpod.placements == [(endpoint_id, "AMPERE_48")]
    assert pool_patches(fakes) == [FIRST + NEXT]
    patch = next(r for r in fakes.runpod.requests_to("PATCH", ENDPOINTS) if "gpu" in r.json)
    assert patch.json["gpu"]["minCudaVersion"] == "12.8" and patch.json["gpu"]["count"] == 1

    (line,) = [x for x in log_lines(server, dep_id) if x["message"].startswith("Re-placement:")]
    assert line["level"] == "INFO" and "widened the endpoint's pools to AMPERE_16" in line["message"]
    streamed = [e.json()["message"] for e in events if e.event == "log"]
    assert line["message"] in streamed
    statuses = [e.json().get("message") or "" for e in events if e.event == "status"]
    assert any(m.startswith("Re-placed: no GPU on AMPERE_16, AMPERE_24, ADA_24") for m in statuses), statuses
    assert events[-1].event == "done"


def test_the_price_ceiling_bounds_the_first_choice_and_the_widening(server, fakes) -> None:
    dep_id = deploy(server, fakes, max_price_per_gpu_hour=1.25)
    body = server.wait_status(dep_id, "ready")
    placement = body["placement"]
    assert placement["max_price_per_gpu_hour"] == 1.25
    by_pool = {c["pool"]: c for c in placement["candidates"]}
    assert (
        by_pool["ADA_48_PRO"]["skipped"]
        and "$1.91/GPU-hour, above max_price_per_gpu_hour $1.25" in (by_pool["ADA_48_PRO"]["reason"])
    )
    assert "no known price" in by_pool["ADA_32_PRO"]["reason"]
    (change,) = placement["history"]
    assert change["added_pools"] == ["AMPERE_48"] and pool_patches(fakes) == [[*FIRST, "AMPERE_48"]]


def test_a_ceiling_below_every_pool_is_refused_at_create(server, fakes) -> None:
    for extra in ({}, {"gpu_tier": "AMPERE_80"}):
        resp = server.post(
            "/v1/deployments", json=create_body(fakes, **{"gpu_tier": "auto", **extra}, max_price_per_gpu_hour=0.1)
        )
        assert resp.status_code == 422, resp.text
        assert "price_ceiling_too_low" in resp.text and "max_price_per_gpu_hour $0.10" in resp.text
    assert fakes.runpod.created == []
    schema = server.get("/openapi.json").json()["components"]["schemas"]
    assert "max_price_per_gpu_hour" in schema["CreateDeploymentRequest"]["properties"]
    assert "history" in schema["Placement"]["properties"]


def test_nothing_left_under_the_ceiling_is_said_once_and_the_wait_goes_on(server, fakes) -> None:
    dep_id = deploy(server, fakes, max_price_per_gpu_hour=1.15)
    wait_until(lambda: history(server, dep_id), timeout=30, message="no re-placement decision")
    (change,) = history(server, dep_id)
    assert change["state"] == "exhausted" and change["added_pools"] == []
    for _ in range(15):  # several more timeout windows pass
        assert server.deployment(dep_id)["status"] == "downloading_model"
        time.sleep(0.2)
    said = [x for x in log_lines(server, dep_id) if "no more pools fit" in x["message"]]
    assert (
        len(said) == 1
        and said[0]["level"] == "WARNING"
        and "under max_price_per_gpu_hour $1.15" in (said[0]["message"])
    )
    assert len(history(server, dep_id)) == 1 and pool_patches(fakes) == []
    health = server.get(f"/v1/deployments/{dep_id}/health").json()
    assert health["data"] == "Progressing" and "waiting for GPU capacity" in health["messages"][0]["message"]
    fakes.runpod.set_pool_capacity("ADA_24", None)  # capacity returns: the wait ends
    assert server.wait_status(dep_id, "ready")["placement"]["history"][0]["state"] == "exhausted"


def test_duplicate_and_late_step_tasks_widen_once(server, fakes) -> None:
    hold = fakes.runpod.hold_next("PATCH", ENDPOINTS)
    dep_id = deploy(server, fakes, max_price_per_gpu_hour=1.25)
    assert hold.arrived.wait(30), "no re-placement PATCH"
    token = {"Authorization": f"Bearer {keyed_hash(SECRET, 'local-queue', 'task-token')}"}
    answers: Counter[int] = Counter()

    def deliver_all() -> None:
        for step in ("wait_ready", "create_endpoint", "select_gpu"):
            for n in range(1, 40):
                task = {"kind": "step", "deployment_id": dep_id, "step": step, "seq": n}
                answers[server.client.post("/internal/steps", json=task, headers=token).status_code] += 1

    deliver_all()  # while the step that widens holds its lease, mid-PATCH
    hold.release()
    server.wait_status(dep_id, "ready")
    deliver_all()  # late: after the widening and after ready
    assert set(answers) <= {200, 503}, answers
    (change,) = history(server, dep_id)
    assert change["state"] == "applied" and pool_patches(fakes) == [[*FIRST, "AMPERE_48"]]
    assert len([x for x in log_lines(server, dep_id) if x["message"].startswith("Re-placement:")]) == 1


@pytest.mark.parametrize(
    ("kind", "status", "patches"),
    [
        ("status", 500, 2),  # transient: the change stays pending and is sent again
        ("timeout", 504, 2),  # no work done, a 504 after a while
        ("status", 200, 2),  # nonsense: a 200 without the endpoint; the next poll reads the endpoint
        ("lost_create", 0, 1),  # done, answer lost: the next poll finds the pools there and sends nothing
    ],
)
def test_a_failed_or_lost_update_is_finished_on_a_later_poll(server, fakes, kind, status, patches) -> None:
    fakes.runpod.fail_next("PATCH", ENDPOINTS, kind, status=status or 503)
    dep_id = deploy(server, fakes, max_price_per_gpu_hour=1.25)
    body = server.wait_status(dep_id, "ready")
    (change,) = body["placement"]["history"]
    assert change["state"] == "applied" and body["gpu_pools"] == [*FIRST, "AMPERE_48"]
    assert pool_patches(fakes) == [[*FIRST, "AMPERE_48"]] * patches
    assert fakes.runpod.fault_counts[kind] == 1


def test_a_refused_update_is_recorded_and_the_next_window_tries_again(server, fakes) -> None:
    fakes.runpod.fail_next("PATCH", ENDPOINTS, "status", status=400)
    dep_id = deploy(server, fakes, max_price_per_gpu_hour=1.25)
    body = server.wait_status(dep_id, "ready")
    failed, applied = body["placement"]["history"]
    assert failed["state"] == "failed" and "Runpod refused the update" in failed["error"] and failed["window"] == 1
    assert applied["state"] == "applied" and applied["window"] == 2
    warned = [x for x in log_lines(server, dep_id) if x["message"].startswith("Re-placement failed")]
    assert len(warned) == 1 and warned[0]["level"] == "WARNING"


def test_a_crash_loop_is_reported_as_one_and_never_re_placed(start_server, fakes) -> None:
    fakes.runpod.simulate_capacity()
    fakes.runpod.set_worker_state("unhealthy")
    env = {**fakes.env(), "PLACEMENT_TIMEOUT_SECONDS": "0.1", "READY_POLL_INTERVAL_SECONDS": "0.2"}
    server = start_server(env=env)
    body = server.wait_status(deploy(server, fakes), "failed")
    assert body["error"]["code"] == "worker_unhealthy" and "not a capacity problem" in body["error"]["message"]
    assert body["placement"]["history"] == [] and pool_patches(fakes) == []


def test_price_only_mode_ranks_by_price_and_never_re_places(start_server, fakes) -> None:
    fakes.runpod.simulate_capacity(capacity=dict.fromkeys(FIRST, 0))
    fakes.runpod.set_availability("AMPERE_16", "NONE")  # the catalog says so; price_only does not ask
    env = {**fakes.env(), "PLACEMENT_MODE": "price_only", "PLACEMENT_TIMEOUT_SECONDS": "0.2",
           "READY_POLL_INTERVAL_SECONDS": "0.2"}  # fmt: skip
    server = start_server(env=env)
    dep_id = deploy(server, fakes)
    wait_until(lambda: server.deployment(dep_id)["status"] == "downloading_model", timeout=30)
    time.sleep(2.0)  # ten timeout windows
    placement = server.deployment(dep_id)["placement"]
    assert placement["mode"] == "price_only" and placement["availability_source"] == "price_only"
    assert placement["chosen"] == FIRST and placement["history"] == [] and pool_patches(fakes) == []
    assert fakes.runpod.requests_to("GET", "/v2/catalog/gpus") == []
    fakes.runpod.set_pool_capacity("ADA_24", None)
    server.wait_status(dep_id, "ready")


def test_a_ceiling_only_sizing_shows_too_low_fails_the_deployment_with_its_code(server, fakes) -> None:
    # Accepted at create (the model is not sized yet: AMPERE_16 at $0.58 might do), then sized at ~24 GB:
    # with one GPU only AMPERE_48 ($1.22) and dearer fit.
    body = server.wait_status(deploy(server, fakes, hf_model_id=BIG, gpu_count=1, max_price_per_gpu_hour=1.0), "failed")
    assert body["error"]["code"] == "price_ceiling_too_low", body["error"]
    assert "max_price_per_gpu_hour $1.00 excludes every pool that fits" in body["error"]["message"]
    assert fakes.runpod.created == []
