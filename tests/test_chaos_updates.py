"""Green updates under chaos: deployments updated while faults are injected, some deleted mid-update,
some greens crash-looping. The same chaos build and fault plan as tests/test_chaos.py.

Counts that must hold at 0 (printed): deployments that stopped serving during a successful update
(a GET that did not say ready, or a job through the proxy that did not complete), endpoints leaked,
deployments or updates stuck, duplicate green endpoints.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.e2e_support import create_body, endpoint_name, running_fakes, wait_until
from tests.fakes.hub import HubFaultPlan
from tests.fakes.runpod import FaultPlan
from tests.fakes.worker_sim import WorkerSim

DEPLOYMENTS = int(os.environ.get("CHAOS_UPDATE_DEPLOYMENTS", "40"))
DEADLINE = 120.0
SERVING = {"ready", "webhook_failed"}


def test_updates_under_faults_keep_serving_and_leak_nothing(start_server) -> None:
    rng = random.Random(23)
    with running_fakes(ready_after_seconds=0.3) as fakes:
        crash = lambda e: (e.get("env") or {}).get("CRASH") == "1"  # noqa: E731
        workers = WorkerSim(fakes.runpod, max_pause=0.3, seed=9, crashes=crash).attach()
        server = start_server(
            env={**fakes.env(), "CHAOS_SEED": "13", "CHAOS_CRASH_RATE": "0.05", "CHAOS_MAX_LATE_SECONDS": "0.5",
                 "HTTP_TIMEOUT_SECONDS": "0.5", "STEP_LEASE_SECONDS": "2", "DEPLOY_TIMEOUT_SECONDS": str(DEADLINE),
                 "RECONCILE_INTERVAL_SECONDS": "2", "QUEUE_WORKERS": "16", "RATE_LIMIT_PER_MINUTE": "1000000",
                 "UPDATE_DRAIN_SECONDS": "1"},
            args=["--services", "tests.chaos_build:services", "--wrap", "tests.chaos_build:wrap"],
        )  # fmt: skip
        client = httpx.Client(base_url=server.base_url, headers=server.auth, timeout=30)
        statuses: Counter[int] = Counter()

        def call(method: str, path: str, **kw) -> httpx.Response:
            resp = client.request(method, path, **kw)
            statuses[resp.status_code // 100 * 100] += 1
            return resp

        # Deployments first (under faults), then updates of the ready ones, still under faults.
        fakes.runpod.faults = FaultPlan(
            error_5xx=0.05, rate_limit_429=0.02, timeout=0.01, reset=0.03, lost_create=0.15, seed=7,
            timeout_seconds=1.0, retry_after_seconds=1,
        )  # fmt: skip
        fakes.hub.faults = HubFaultPlan(error_rate=0.05, reset_rate=0.03, seed=3)
        fakes.runpod.runtime_faults = False  # jobs measure serving continuity; faults hit the management API
        with ThreadPoolExecutor(8) as pool:
            created = list(
                pool.map(lambda _: call("POST", "/v1/deployments", json=create_body(fakes)), range(DEPLOYMENTS))
            )
        ids = [resp.json()["deployment_id"] for resp in created]
        wait_until(lambda: all(_idle(call("GET", f"/v1/deployments/{d}").json()) for d in ids), DEADLINE,
                   "deployments did not all become ready and settle")  # fmt: skip

        failing = set(rng.sample(ids, DEPLOYMENTS // 4))
        deleting = set(rng.sample(sorted(set(ids) - failing), DEPLOYMENTS // 5))
        tasks: dict[str, str] = {}
        broken: Counter[str] = Counter()  # deployment -> observations of not serving during its update
        stop = threading.Event()
        seen: list[tuple[str, str]] = []  # what a probe saw that was not serving

        def patch(dep_id: str) -> None:
            env = {"CRASH": "1"} if dep_id in failing else {"GEN": "2"}
            for _ in range(40):  # a 409 while finalize re-applies the workers: try again
                resp = call("PATCH", f"/v1/deployments/{dep_id}", json={"env": env})
                if resp.status_code == 202:
                    tasks[dep_id] = resp.json()["task_id"]
                    return
                time.sleep(0.25)
            raise AssertionError(f"PATCH {dep_id} never accepted: {resp.status_code} {resp.text}")

        def probe() -> None:
            with httpx.Client(base_url=server.base_url, headers=server.auth, timeout=30) as own:
                while not stop.is_set():
                    for dep_id in sorted(set(tasks) - deleting):
                        body = own.get(f"/v1/deployments/{dep_id}").json()
                        if body["status"] not in SERVING:
                            broken[dep_id] += 1
                            seen.append((dep_id, body["status"]))
                        job = own.post(f"/v1/deployments/{dep_id}/runsync", json={"input": {"d": dep_id}})
                        if job.status_code != 200 or job.json().get("status") not in ("COMPLETED", "IN_QUEUE"):
                            broken[dep_id] += 1
                            seen.append((dep_id, f"{job.status_code} {job.text[:200]}"))

        prober = threading.Thread(target=probe)
        prober.start()
        started = time.monotonic()
        try:
            with ThreadPoolExecutor(8) as pool:
                list(pool.map(patch, ids))
            for dep_id in deleting:
                time.sleep(rng.random() * 0.2)
                assert call("DELETE", f"/v1/deployments/{dep_id}").status_code == 204
            ended: dict[str, dict] = {}
            settle_by = time.monotonic() + DEADLINE
            while len(ended) < len(tasks) and time.monotonic() < settle_by:
                for dep_id, task_id in tasks.items():
                    task = call("GET", f"/v1/tasks/{task_id}").json()
                    if dep_id not in ended and task["status"] in ("completed", "failed"):
                        ended[dep_id] = task
                time.sleep(0.3)
        finally:
            stop.set()
            prober.join(60)
        elapsed = time.monotonic() - started
        wait_until(lambda: all(call("GET", f"/v1/deployments/{d}").json()["status"] == "deleted" for d in deleting),
                   DEADLINE, "deleted deployments did not finish")  # fmt: skip
        workers.join()

        final = {d: call("GET", f"/v1/deployments/{d}").json() for d in ids}
        stuck = sorted(set(tasks) - set(ended)) + [
            d for d, b in final.items() if b["status"] not in {*SERVING, "deleted"}
        ]
        succeeded = {d for d, t in ended.items() if t["status"] == "completed"}
        stopped_serving = sorted(d for d in succeeded if broken[d])
        expected_live = {b["runpod_endpoint_id"] for b in final.values() if b["status"] in SERVING}

        def leaks() -> list[str]:
            mine = {endpoint_name(d) for d in ids}
            return [e["id"] for e in fakes.runpod.live_endpoints()
                    if e["name"].partition("-g")[0] in mine and e["id"] not in expected_live]  # fmt: skip

        try:
            wait_until(lambda: not leaks(), 30)
        except AssertionError:
            pass
        leaked = leaks()
        names = Counter(e["name"] for e in fakes.runpod.created)
        duplicate_greens = sorted(n for n, c in names.items() if c > 1)
        outcome = Counter(t["status"] for t in ended.values())
        codes = Counter(t["error"]["code"] for t in ended.values() if t["error"])
        print(
            f"\nchaos updates: deployments={len(ids)} updated={len(tasks)} crash_looping_greens={len(failing)} "
            f"deleted_mid_update={len(deleting)} outcome={dict(outcome)} failure_codes={dict(codes)} "
            f"settled_in={elapsed:.1f}s\n"
            f"faults injected: runpod={dict(fakes.runpod.fault_counts)} hub={dict(fakes.hub.fault_counts)}\n"
            f"stopped_serving_during_successful_update={len(stopped_serving)} endpoints_leaked={len(leaked)} "
            f"stuck={len(stuck)} duplicate_green_endpoints={len(duplicate_greens)} api_5xx={statuses[500]} "
            f"probes_not_serving_outside_successful_updates={sum(broken.values()) - sum(broken[d] for d in succeeded)}"
        )
        client.close()
        assert stopped_serving == [], [x for x in seen if x[0] in stopped_serving][:10]
        assert stopped_serving == [] and leaked == [] and stuck == [] and duplicate_greens == []
        assert statuses[500] == 0
        assert all(final[d]["status"] == "deleted" for d in deleting)
        assert all(ended[d]["status"] == "failed" for d in failing - deleting)
        assert all(final[d]["generation"] == 1 and final[d]["last_update_error"] for d in failing - deleting)
        assert all(final[d]["generation"] == 2 for d in set(ids) - failing - deleting)


def _idle(body: dict) -> bool:
    """Ready, with no step left (finalize done), so an update can start."""
    return body["status"] in SERVING and not any(s["state"] in ("running", "retrying") for s in body["steps"][-1:])
