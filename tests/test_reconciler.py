"""The reconciler: leaked endpoints are deleted, lost tasks re-driven, deadlines enforced."""

from __future__ import annotations

from shared.runpod import RunpodClient, RunpodConfig
from tests.e2e_support import create_body, running_fakes, wait_until

CHAOS = ["--services", "tests.chaos_build:services", "--wrap", "tests.chaos_build:wrap"]


def test_leaked_endpoints_with_our_prefix_are_deleted_and_logged(start_server) -> None:
    with running_fakes() as fakes:
        server = start_server(env={**fakes.env(), "RECONCILE_INTERVAL_SECONDS": "0.5"})
        dep_id = server.post("/v1/deployments", json=create_body(fakes)).json()["deployment_id"]
        live_id = server.post("/v1/deployments", json=create_body(fakes)).json()["deployment_id"]
        server.wait_status(dep_id, "ready")
        server.wait_status(live_id, "ready")
        server.delete(f"/v1/deployments/{dep_id}")
        server.wait_status(dep_id, "deleted")
        # Leaks: one named after the deleted deployment, one after a deployment we never had; plus a
        # foreign endpoint without our prefix that must survive.
        config = RunpodConfig(fakes.runpod.base_url, fakes.runpod.base_url, 5)
        body = {"type": "QUEUE", "image": "x/y:1", "scaling": {"type": "QUEUE_DELAY", "queueDelay": 4},
                "gpu": {"pools": ["ADA_24"]}}  # fmt: skip
        with RunpodClient("rpa_test", config) as client:
            client.create_endpoint({**body, "name": f"do-{dep_id}"})
            client.create_endpoint({**body, "name": "do-dep_2026_000000000000dead"})
            client.create_endpoint({**body, "name": "someone-elses-app"})
        wait_until(lambda: not fakes.runpod.endpoints_named(f"do-{dep_id}"))
        wait_until(lambda: not fakes.runpod.endpoints_named("do-dep_2026_000000000000dead"))
        assert fakes.runpod.endpoints_named("someone-elses-app")
        assert fakes.runpod.endpoints_named(f"do-{live_id}"), "a live deployment's endpoint was touched"
        wait_until(
            lambda: (
                "Reconciler: deleted leftover endpoint"
                in " ".join(x["message"] for x in server.deployment(dep_id)["logs"])
            )
        )


def test_lost_tasks_are_redriven_by_the_reconciler(start_server) -> None:
    with running_fakes() as fakes:
        server = start_server(
            env={
                **fakes.env(),
                "CHAOS_CRASH_RATE": "0",
                "CHAOS_DUPLICATE": "0",
                "CHAOS_DROP_RATE": "0.3",
                "CHAOS_MAX_LATE_SECONDS": "0",
                "STEP_LEASE_SECONDS": "0.5",
                "RETRY_MAX_SECONDS": "0.5",
                "RECONCILE_INTERVAL_SECONDS": "0.5",
            },
            args=CHAOS,
        )
        ids = [server.post("/v1/deployments", json=create_body(fakes)).json()["deployment_id"] for _ in range(6)]
        server.delete(f"/v1/deployments/{ids[0]}")
        for dep_id in ids[1:]:
            body = server.wait_status(dep_id, "ready", timeout=40)
            assert len(fakes.runpod.created_by_name(f"do-{dep_id}")) == 1
        server.wait_status(ids[0], "deleted", timeout=40)
        redriven = [d for d in ids if "Reconciler:" in " ".join(x["message"] for x in server.deployment(d)["logs"])]
        assert redriven, "with 30% of tasks dropped, some deployments needed the reconciler"
        assert body["status"] == "ready"


def test_reconciler_fails_deployments_past_their_deadline(start_server) -> None:
    with running_fakes() as fakes:
        # Every step task is dropped: only the reconciler can notice the deadline.
        server = start_server(
            env={**fakes.env(), "CHAOS_CRASH_RATE": "0", "CHAOS_DUPLICATE": "0", "CHAOS_DROP_RATE": "1",
                 "DEPLOY_TIMEOUT_SECONDS": "1", "RECONCILE_INTERVAL_SECONDS": "0.5"},
            args=CHAOS,
        )  # fmt: skip
        dep_id = server.post("/v1/deployments", json=create_body(fakes)).json()["deployment_id"]
        body = server.wait_status(dep_id, "failed", timeout=20)
        assert body["error"]["code"] == "deploy_timeout" and "reconciler" in body["error"]["message"]
