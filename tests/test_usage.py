"""Usage: GPU-seconds metered from the workers the fake Runpod reports, priced, grouped, per tenant."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

from tests.e2e_support import create_body, running_fakes, wait_until
from tests.test_reconciler import MANUAL, reconcile_now


def _ready(server, fakes, key: str | None = None) -> dict:
    headers = server.as_key(key) if key else {}
    body = create_body(fakes, min_replicas=1, max_replicas=1)
    resp = server.post("/v1/deployments", json=body, headers=headers)
    assert resp.status_code == 202, resp.text
    dep_id = resp.json()["deployment_id"]
    wait_until(lambda: server.get(f"/v1/deployments/{dep_id}", headers=headers).json()["status"] == "ready")
    return server.get(f"/v1/deployments/{dep_id}", headers=headers).json()


def _usage(server, key: str | None = None, **params) -> dict:
    resp = server.get("/v1/usage", params=params, headers=server.as_key(key) if key else {})
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_usage_matches_the_worker_seconds_runpod_reports(start_server) -> None:
    with running_fakes() as fakes:
        server = start_server(env={**fakes.env(), **MANUAL})
        dep = _ready(server, fakes)
        dep_id, endpoint, gpus = dep["deployment_id"], dep["runpod_endpoint_id"], dep["gpu_count"]
        runpod = fakes.runpod
        before = runpod.worker_seconds(endpoint)
        reconcile_now(server)  # the first sample: metering starts here
        after = runpod.worker_seconds(endpoint)
        time.sleep(1.5)
        # Runs at once: the lock skips some; a sample no newer than the last one adds nothing.
        runs = [threading.Thread(target=reconcile_now, args=(server,)) for _ in range(3)]
        for run in runs:
            run.start()
        for run in runs:
            run.join()
        time.sleep(1.5)
        assert server.post(f"/v1/deployments/{dep_id}/stop").status_code == 200  # the stop event closes the window
        end = runpod.worker_seconds(endpoint)
        assert end == runpod.worker_seconds(endpoint), "paused: the fake's worker is down"
        for _ in range(2):
            reconcile_now(server)  # 0 workers now: nothing more is billed, however often it samples
        usage = _usage(server)
        metered = usage["total"]["gpu_seconds"] / gpus
        assert (end - after) * 0.99 <= metered <= (end - before) * 1.01, (before, after, end, usage)
        price = dep["cost"]["price_per_gpu_hour"]
        assert price and abs(usage["total"]["usd"] - usage["total"]["gpu_seconds"] / 3600 * price) < 1e-4
        assert [r["key"] for r in usage["data"]] == [dep_id] and usage["group_by"] == "deployment"

        by_day = _usage(server, group_by="day")
        assert [r["key"] for r in by_day["data"]] == [datetime.now(UTC).date().isoformat()]
        by_model = _usage(server, group_by="model")
        assert [r["key"] for r in by_model["data"]] == [dep["model_id"]]
        for grouped in (by_day, by_model):
            assert abs(sum(r["gpu_seconds"] for r in grouped["data"]) - usage["total"]["gpu_seconds"]) < 0.01
        past = _usage(server, **{"from": "2020-01-01T00:00:00Z", "to": "2020-01-02T00:00:00"})
        assert past["total"] == {"gpu_seconds": 0.0, "usd": 0.0} and past["data"] == []


def test_usage_is_per_tenant_and_the_admin_sees_all(start_server) -> None:
    with running_fakes() as fakes:
        server = start_server(env={**fakes.env(), **MANUAL})
        other = server.new_tenant_key("Other")
        _ready(server, fakes)
        reconcile_now(server)
        time.sleep(0.5)
        reconcile_now(server)
        mine = _usage(server)
        assert mine["total"]["gpu_seconds"] > 0
        theirs = _usage(server, other)
        assert theirs["data"] == [] and theirs["total"]["gpu_seconds"] == 0
        admin = server.admin("GET", "/admin/usage")
        assert admin.status_code == 200, admin.text
        rows = admin.json()["data"]
        assert len(rows) == 1 and rows[0]["gpu_seconds"] == mine["total"]["gpu_seconds"]
        only = server.admin("GET", "/admin/usage", params={"tenant_id": rows[0]["key"], "group_by": "deployment"})
        assert only.json()["total"] == mine["total"] and only.json()["tenant_id"] == rows[0]["key"]
        assert server.get("/admin/usage").status_code == 401, "an API key is no admin token"


def test_usage_refuses_bad_periods_in_the_error_shape(start_server) -> None:
    server = start_server(env=MANUAL)
    for params in (
        {"from": "yesterday"},
        {"to": "2026-13-45"},
        {"from": "2026-02-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"},
        {"from": "2020-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"},
        {"group_by": "week"},
    ):
        resp = server.get("/v1/usage", params=params)
        assert resp.status_code == 400, (params, resp.text)
        assert resp.json()["error"] == "BadRequestError" and resp.json()["message"]


def test_a_deletion_counts_up_to_the_endpoints_verified_removal_once(start_server) -> None:
    from shared.platform.crypto import keyed_hash
    from tests.test_reconciler import SECRET

    with running_fakes() as fakes:
        server = start_server(env={**fakes.env(), **MANUAL})
        dep = _ready(server, fakes)
        dep_id, endpoint, gpus = dep["deployment_id"], dep["runpod_endpoint_id"], dep["gpu_count"]
        runpod = fakes.runpod
        before = runpod.worker_seconds(endpoint)
        reconcile_now(server)  # the last sample before the deletion: the worker is up
        after = runpod.worker_seconds(endpoint)
        time.sleep(2.0)  # the last stretch: no sample sees it, only the removal can count it
        assert server.delete(f"/v1/deployments/{dep_id}").status_code in (202, 204)
        server.wait_status(dep_id, "deleted")
        end = runpod.worker_seconds(endpoint)
        assert endpoint in runpod.deleted and end == runpod.worker_seconds(endpoint), "deleted: the worker is down"
        metered = _usage(server)["total"]["gpu_seconds"] / gpus
        assert (end - after) * 0.99 <= metered <= (end - before) * 1.01, (before, after, end, metered)

        token = {"Authorization": f"Bearer {keyed_hash(SECRET, 'local-queue', 'task-token')}"}
        for seq in range(1, 12):  # duplicate and late cleanup deliveries, and more samples of the gone endpoint
            task = {"kind": "step", "deployment_id": dep_id, "step": "cleanup", "seq": seq}
            assert server.client.post("/internal/steps", json=task, headers=token).status_code in (200, 503)
        reconcile_now(server)
        assert _usage(server)["total"]["gpu_seconds"] / gpus == metered, "counted once"
