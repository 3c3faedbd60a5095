"""Calls through the proxy wait for a worker while a scaled-to-zero deployment wakes up (X-Scale-Up-Timeout),
against the fake Runpod in scale-from-zero mode: a job on an endpoint without workers starts one that
initializes for `scale_up_seconds`."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.conftest import launch
from tests.e2e_support import LLM, Fakes, create_body, running_fakes, wait_until

SETTINGS = {"SCALE_UP_TIMEOUT_SECONDS": "20", "LONG_REQUESTS_PER_TENANT": "10", "LONG_REQUESTS_MAX": "12"}


@pytest.fixture(scope="module")
def fakes() -> Iterator[Fakes]:
    with running_fakes() as f:
        yield f
        assert f.runpod.violations == [], f.runpod.violations


@pytest.fixture(scope="module")
def server(tmp_path_factory, fakes):
    srv = launch(tmp_path_factory.mktemp("scale_up") / "data", {**fakes.env(), **SETTINGS})
    yield srv
    srv.stop()


@pytest.fixture(autouse=True)
def cold_mode(fakes: Fakes) -> Iterator[None]:
    yield
    fakes.runpod.scale_up_seconds = None


def scaled_to_zero(server, fakes: Fakes, scale_up_seconds: float, **overrides) -> dict:
    """A ready deployment (min 0: no worker once ready), with the fake waking workers slowly from now on."""
    fakes.runpod.scale_up_seconds = None
    resp = server.post("/v1/deployments", json=create_body(fakes, **overrides))
    assert resp.status_code == 202, resp.text
    dep = server.wait_status(resp.json()["deployment_id"], "ready", timeout=60)
    endpoint = dep["runpod_endpoint_id"]
    wait_until(lambda: fakes.runpod.worker_state(endpoint) == "none", message="finalize never scaled to zero")
    fakes.runpod.scale_up_seconds = scale_up_seconds
    return dep


def jobs_of(fakes: Fakes, endpoint: str) -> list[dict]:
    with fakes.runpod.lock:
        return [dict(j) for j in fakes.runpod.jobs.values() if j["endpoint_id"] == endpoint]


def test_runsync_waits_for_the_worker_and_reports_the_wait(server, fakes) -> None:
    dep = scaled_to_zero(server, fakes, 1.5)
    resp = server.post(
        f"/v1/deployments/{dep['deployment_id']}/runsync",
        json={"input": {"n": 1}},
        headers={"X-Scale-Up-Timeout": "30"},
        timeout=60,
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "COMPLETED" and resp.json()["output"] == {"echo": {"n": 1}}
    assert float(resp.headers["X-Scale-Up-Wait"]) > 0
    assert fakes.runpod.worker_state(dep["runpod_endpoint_id"]) == "idle"
    warm = server.post(f"/v1/deployments/{dep['deployment_id']}/runsync", json={"input": {"n": 2}})
    assert warm.status_code == 200 and float(warm.headers["X-Scale-Up-Wait"]) == 0  # a worker is up now


def test_a_worker_that_does_not_come_in_time_is_a_503_and_the_job_is_cancelled(server, fakes) -> None:
    dep = scaled_to_zero(server, fakes, 300)
    resp = server.post(
        f"/v1/deployments/{dep['deployment_id']}/runsync",
        json={"input": {"n": 1}},
        headers={"X-Scale-Up-Timeout": "0.5"},
    )
    assert resp.status_code == 503, resp.text
    body = resp.json()
    assert body["error"] == "ServiceUnavailableError" and body["details"]["code"] == "scale_up_timeout"
    assert body["details"]["timeout_seconds"] == 0.5 and int(resp.headers["Retry-After"]) > 0
    assert float(resp.headers["X-Scale-Up-Wait"]) >= 0.5
    assert [j["status"] for j in jobs_of(fakes, dep["runpod_endpoint_id"])] == ["CANCELLED"]


def test_without_the_header_the_default_applies(tmp_path, fakes) -> None:
    srv = launch(tmp_path / "data", {**fakes.env(), "SCALE_UP_TIMEOUT_SECONDS": "0.4"})
    try:
        dep = scaled_to_zero(srv, fakes, 300)
        resp = srv.post(f"/v1/deployments/{dep['deployment_id']}/runsync", json={"input": {}})
        assert resp.status_code == 503 and resp.json()["details"]["timeout_seconds"] == 0.4, resp.text
    finally:
        srv.stop()


def test_a_malformed_header_is_refused_before_anything_is_sent(server, fakes) -> None:
    dep = scaled_to_zero(server, fakes, 300)
    before = len(fakes.runpod.requests)
    for value in ("soon", "-1", "151", "1e999", "nan", "inf"):
        resp = server.post(
            f"/v1/deployments/{dep['deployment_id']}/runsync", json={"input": {}}, headers={"X-Scale-Up-Timeout": value}
        )
        assert resp.status_code == 422 and resp.json()["details"]["header"] == "X-Scale-Up-Timeout", resp.text
    assert fakes.runpod.requests[before:] == []


def test_async_run_does_not_wait(server, fakes) -> None:
    dep = scaled_to_zero(server, fakes, 300)
    resp = server.post(f"/v1/deployments/{dep['deployment_id']}/run", json={"input": {}})
    assert resp.status_code == 200 and resp.json()["status"] == "IN_QUEUE" and "X-Scale-Up-Wait" not in resp.headers


def test_many_concurrent_openai_calls_share_one_wake_up_and_all_succeed(server, fakes) -> None:
    dep = scaled_to_zero(server, fakes, 2.0, hf_model_id=LLM, gpu_tier="auto")
    endpoint = dep["runpod_endpoint_id"]
    before = len(fakes.runpod.requests)
    body = {"model": LLM, "messages": [{"role": "user", "content": "hi"}]}

    def chat(_: int):
        return server.post("/v1/chat/completions", json=body, headers={"X-Scale-Up-Timeout": "30"}, timeout=60)

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(chat, range(8)))
    assert [a.status_code for a in answers] == [200] * 8, [a.text for a in answers]
    assert all(a.headers["X-Deployment-Id"] == dep["deployment_id"] for a in answers)
    assert max(float(a.headers["X-Scale-Up-Wait"]) for a in answers) > 0
    wake = [j for j in jobs_of(fakes, endpoint) if j["input"] == {"openai_route": "/v1/models"}]
    assert len(wake) == 1  # one wake-up job for all the waiting callers
    health = [r for r in fakes.runpod.requests[before:] if r.path == f"/v2/{endpoint}/health"]
    assert len(health) <= 8 * 8  # doubling pauses: a handful of polls per caller, not a busy loop
