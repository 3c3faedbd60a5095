"""estimated_ready_at learned from the install's history: the median of past deployments of the same pool
and VRAM size, per step; the static estimate with too little history or on another pool."""

from __future__ import annotations

import statistics
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest

from shared.deploy.learned_eta import MIN_SAMPLES
from tests.conftest import launch
from tests.e2e_support import Fakes, create_body, running_fakes


@pytest.fixture(scope="module")
def fakes() -> Iterator[Fakes]:
    with running_fakes() as f:
        yield f
        assert f.runpod.violations == [], f.runpod.violations


@pytest.fixture(scope="module")
def server(tmp_path_factory, fakes):
    srv = launch(tmp_path_factory.mktemp("eta") / "data", {**fakes.env(), "READY_POLL_INTERVAL_SECONDS": "0.2"})
    yield srv
    srv.stop()


def deploy(server, fakes: Fakes, **overrides) -> str:
    resp = server.post("/v1/deployments", json=create_body(fakes, **overrides))
    assert resp.status_code == 202, resp.text
    return resp.json()["deployment_id"]


def waiting_for_worker(server, fakes: Fakes, **overrides) -> dict:
    """A deployment held in wait_ready (its worker initializing), as GET shows it."""
    fakes.runpod.set_worker_state("initializing")
    try:
        dep_id = deploy(server, fakes, **overrides)
        return server.wait_status(dep_id, "downloading_model", timeout=60)
    finally:
        fakes.runpod.set_worker_state("auto")


def when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def wait_ready_seconds(dep: dict) -> float:
    created = max(when(s["finished_at"]) for s in dep["steps"] if s["name"] == "create_endpoint")
    return (when(dep["ready_at"]) - created).total_seconds()


def test_the_eta_learns_from_ready_deployments_of_the_same_pool(server, fakes) -> None:
    first = waiting_for_worker(server, fakes)
    assert first["eta"] == {"source": "static", "samples": 0, "step_seconds": None}
    static = when(first["estimated_ready_at"])
    assert static >= when(first["created_at"]) + timedelta(seconds=60)  # the model-size estimate: minutes

    ready = [server.wait_status(first["deployment_id"], "ready", timeout=60)]
    ready += [server.wait_status(deploy(server, fakes), "ready", timeout=60) for _ in range(MIN_SAMPLES - 1)]
    assert all(r["eta"] is None and r["estimated_ready_at"] == r["ready_at"] for r in ready)

    held = waiting_for_worker(server, fakes)
    eta = held["eta"]
    assert eta["source"] == "history" and eta["samples"] == MIN_SAMPLES, held
    assert eta["step_seconds"]["wait_ready"] == pytest.approx(
        statistics.median(wait_ready_seconds(r) for r in ready), abs=2e-3
    )
    learned = when(held["estimated_ready_at"])
    assert learned < when(held["created_at"]) + timedelta(seconds=60)  # the fake's seconds, not the static minutes

    other_pool = waiting_for_worker(server, fakes, gpu_tier="4090")
    assert other_pool["gpu_pools"][0] != held["gpu_pools"][0]
    assert other_pool["eta"] == {"source": "static", "samples": 0, "step_seconds": None}
