"""The simulated Runpod in process, through the product's own Runpod clients: tenant scoping, the key,
the worker phases and the deterministic outputs."""

from __future__ import annotations

import base64
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shared.clients.runpod import RunpodClient, RunpodConfig, RunpodError
from shared.clients.runpod.runtime import RuntimeClient
from shared.platform.crypto import Cipher
from shared.platform.settings import Settings
from shared.queue.local import LocalTaskQueue
from shared.sandbox import outputs, phases
from shared.sandbox.transport import sandbox_client
from shared.sandbox.world import World
from shared.store.sqlite import SqliteStore
from tests.sandbox.support import png_size

CONFIG = RunpodConfig("https://api.runpod.io", "https://api.runpod.ai", 5)
BODY = {
    "name": "do-x-dep_1",
    "type": "QUEUE",
    "image": "runpod/worker-v1-vllm:v2.25.2",
    "env": {"HF_MODEL_ID": "Qwen/Qwen2.5-0.5B-Instruct", "MODEL_NAME": "Qwen/Qwen2.5-0.5B-Instruct"},
    "disk": 20,
    "gpu": {"pools": ["AMPERE_16"], "count": 1},
    "workers": {"min": 1, "max": 1, "idleTimeout": 5},
}


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def worlds(tmp_path: Path):
    store = SqliteStore(tmp_path / "db.sqlite")
    queue = LocalTaskQueue(tmp_path / "queue.db")
    cipher = Cipher("k1:" + base64.b64encode(os.urandom(32)).decode())
    clock = Clock()
    settings = Settings()

    def world(tenant: str | None) -> World:
        return World(store, queue, settings, cipher, clock, tenant)

    return world, clock


def client(world: World, key: str = "sandbox") -> RunpodClient:
    return RunpodClient(key, CONFIG, sandbox_client(world, 5))


def test_each_tenant_sees_only_its_own_endpoints(worlds):
    world, _ = worlds
    a, b = client(world("tenant-a")), client(world("tenant-b"))
    made = a.create_endpoint(BODY)
    assert [e["id"] for e in a.list_endpoints()] == [made["id"]]
    assert b.list_endpoints() == [] and client(world(None)).list_endpoints() == []
    assert b.get_endpoint(made["id"]) is None and b.delete_endpoint(made["id"]) is False
    with pytest.raises(RunpodError) as refused:
        RuntimeClient("sandbox", CONFIG, made["id"], sandbox_client(world("tenant-b"), 5)).health()
    assert refused.value.kind == "not_found"
    assert a.delete_endpoint(made["id"]) is True and a.list_endpoints() == []


def test_only_the_sandbox_key_is_taken(worlds):
    world, _ = worlds
    with pytest.raises(RunpodError) as refused:
        client(world("tenant-a"), key="rpa_real").list_endpoints()
    assert refused.value.kind == "unauthorized"


def test_workers_start_download_load_then_serve(worlds):
    world, clock = worlds
    a = client(world("tenant-a"))
    made = a.create_endpoint(BODY)
    assert a.endpoint_health(made["id"])["workers"]["initializing"] == 1
    clock.now += timedelta(seconds=60)
    assert a.endpoint_health(made["id"])["workers"]["idle"] == 1
    a.update_endpoint(made["id"], {"workers": {"min": 0, "max": 0}})  # paused
    assert sum(a.endpoint_health(made["id"])["workers"].values()) == 0


def test_phases_follow_the_scenario_and_model_size():
    small, big = phases.timeline("ok", 1, 1.0), phases.timeline("ok", 30, 1.0)
    assert small.ready_after < big.ready_after < 30
    assert phases.timeline("slow_start", 1, 1.0).ready_after >= 120
    assert phases.phase_at(small, "ok", 0).stage == "booting"
    assert phases.phase_at(small, "ok", small.download_starts + 0.01).stage == "downloading_model"
    assert phases.phase_at(small, "ok", small.load_starts + 0.01).stage == "loading_model"
    assert phases.phase_at(small, "ok", small.ready_after).stage == "ready"
    assert phases.phase_at(small, "crash_loop", small.ready_after).stage == "crashed"
    assert phases.phase_at(small, "no_capacity", 10_000).stage == "throttled"
    crashed = phases.worker_counts(phases.Phase("crashed", 100), 1, 1, False)
    assert crashed["unhealthy"] == 1


def test_outputs_are_deterministic():
    assert outputs.text_for("hi") == outputs.text_for("hi") != outputs.text_for("ho")
    assert outputs.embedding("x") == outputs.embedding("x") != outputs.embedding("y")
    image = outputs.image_job("m", {"prompt": "p", "width": 16, "height": 8, "num_images": 2})
    assert [png_size(base64.b64decode(i)) for i in image["images"]] == [(16, 8), (16, 8)]
    assert image["images"][0] != image["images"][1]
