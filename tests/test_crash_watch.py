"""Crash-looping workers: flagged; paused with the reason when the tenant opted in (auto_pause_unhealthy)."""

from __future__ import annotations

import time

from tests.e2e_support import create_body, running_fakes
from tests.test_reconciler import MANUAL, reconcile_now


def test_crash_looping_workers_are_flagged_and_paused_only_when_opted_in(start_server) -> None:
    with running_fakes() as fakes:
        server = start_server(env={**fakes.env(), **MANUAL, "UNHEALTHY_PAUSE_SECONDS": "1"})
        ids = {}
        for opted in (True, False):
            body = create_body(fakes, min_replicas=1, max_replicas=1, auto_pause_unhealthy=opted)
            ids[opted] = server.post("/v1/deployments", json=body).json()["deployment_id"]
        for dep_id in ids.values():
            dep = server.wait_status(dep_id, "ready")
            fakes.runpod.set_worker_state("unhealthy", dep["runpod_endpoint_id"])
        reconcile_now(server)
        for dep_id in ids.values():
            flagged = server.deployment(dep_id)
            assert flagged["status"] == "ready" and flagged["unhealthy_since"], flagged
        time.sleep(1.2)
        reconcile_now(server)
        paused = server.deployment(ids[True])
        assert paused["status"] == "paused" and paused["paused_reason"] == "unhealthy", paused
        assert any("crash-looped" in line["message"] for line in paused["logs"])
        endpoint = fakes.runpod.endpoints[paused["runpod_endpoint_id"]]
        assert endpoint["workers"]["min"] == 0 and endpoint["workers"]["max"] == 0, "the bill stops"
        kept = server.deployment(ids[False])
        assert kept["status"] == "ready" and kept["unhealthy_since"], "not opted in: flagged, never paused"

        fakes.runpod.set_worker_state("idle", kept["runpod_endpoint_id"])
        reconcile_now(server)
        assert server.deployment(ids[False])["unhealthy_since"] is None, "healthy again: the flag is cleared"
