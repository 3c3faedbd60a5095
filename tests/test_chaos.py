"""Never leak a GPU: many deployments under faults, duplicate and late deliveries, crashes and deletes.

The server runs the chaos test build (tests/chaos_build.py): every step task is delivered twice, late
and out of order, and a step may "crash" between a side effect and its state write. The fake Runpod
answers with 5xx, 429 + Retry-After, timeouts, resets and "created, but the answer is lost"; the fake
Hub fails too. A third of the deployments are deleted at random moments. A simulated worker starts
on every endpoint the fake creates (also when the create's answer is then lost) and reports
downloading (with progress), loading and ready through the real callback, often while the create
step is still retrying: no deployment may be left stuck by a report that came "too early".
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from tests.e2e_support import create_body, endpoint_name, running_fakes, wait_until
from tests.fakes.hub import HubFaultPlan
from tests.fakes.runpod import FaultPlan
from tests.fakes.worker_sim import WorkerSim

DEPLOYMENTS = int(os.environ.get("CHAOS_DEPLOYMENTS", "200"))
DEADLINE = 120.0  # wide: on a loaded machine the last of 200 settles well after a minute
FINAL = {"ready", "failed", "deleted"}
DEADLINE_CODES = {"deploy_timeout", "ready_timeout"}  # the fakes always get ready: a deadline means stuck


def test_no_endpoint_is_ever_duplicated_or_leaked(start_server) -> None:
    rng = random.Random(42)
    with running_fakes(ready_after_seconds=0.3) as fakes:
        fakes.runpod.faults = FaultPlan(
            error_5xx=0.05, rate_limit_429=0.02, timeout=0.01, reset=0.03, lost_create=0.15, seed=7,
            timeout_seconds=1.0, retry_after_seconds=1,
        )  # fmt: skip
        fakes.hub.faults = HubFaultPlan(error_rate=0.05, reset_rate=0.03, seed=3)
        workers = WorkerSim(fakes.runpod, max_pause=0.3, seed=5).attach()
        server = start_server(
            env={
                **fakes.env(),
                "CHAOS_SEED": "11",
                "CHAOS_CRASH_RATE": "0.05",
                "CHAOS_MAX_LATE_SECONDS": "0.5",
                "HTTP_TIMEOUT_SECONDS": "0.5",
                "STEP_LEASE_SECONDS": "2",
                "DEPLOY_TIMEOUT_SECONDS": str(DEADLINE),
                "RECONCILE_INTERVAL_SECONDS": "2",
                "QUEUE_WORKERS": "16",
                "RATE_LIMIT_PER_MINUTE": "1000000",
            },
            args=["--services", "tests.chaos_build:services", "--wrap", "tests.chaos_build:wrap"],
        )
        statuses: list[int] = []
        lock = threading.Lock()
        to_delete = set(rng.sample(range(DEPLOYMENTS), DEPLOYMENTS // 3))
        delays = {i: rng.random() * 3.0 for i in to_delete}

        def call(method: str, path: str, **kw):
            resp = server.client.request(method, path, headers=server.auth, **kw)
            with lock:
                statuses.append(resp.status_code)
            return resp

        def one(i: int) -> str:
            resp = call("POST", "/v1/deployments", json=create_body(fakes, gpu_tier="auto"))
            assert resp.status_code == 202, resp.text
            dep_id = resp.json()["deployment_id"]
            if i in to_delete:
                time.sleep(delays[i])
                assert call("DELETE", f"/v1/deployments/{dep_id}").status_code == 204
            return dep_id

        started = time.monotonic()
        with ThreadPoolExecutor(8) as pool:
            ids = list(pool.map(one, range(DEPLOYMENTS)))
        deleted_ids = {ids[i] for i in to_delete}

        final: dict[str, dict] = {}
        settle_by = time.monotonic() + DEADLINE + 30
        while len(final) < len(ids) and time.monotonic() < settle_by:
            for dep_id in ids:
                if dep_id in final:
                    continue
                body = call("GET", f"/v1/deployments/{dep_id}").json()
                settled = body["status"] in FINAL and (body["status"] != "failed" or _cleaned(body))
                if settled and (dep_id not in deleted_ids or body["status"] == "deleted"):
                    final[dep_id] = body
            time.sleep(0.2)
        elapsed = time.monotonic() - started
        stuck = {d: call("GET", f"/v1/deployments/{d}").json()["status"] for d in ids if d not in final}
        # Failing at the deadline is settling only on paper: it sat there (e.g. in loading_model) for good.
        stuck |= {
            d: b["error"]["code"] for d, b in final.items() if b["error"] and b["error"]["code"] in DEADLINE_CODES
        }
        workers.join()
        assert not stuck, f"stuck: {stuck}\n{server.log()}"

        wait_until(
            lambda: all(
                not fakes.runpod.endpoints_named(endpoint_name(d)) for d, b in final.items() if b["status"] != "ready"
            )
        )
        runpod = fakes.runpod
        per_deployment = {d: len(runpod.created_by_name(endpoint_name(d))) for d in ids}
        leaked = [d for d, b in final.items() if b["status"] != "ready" and runpod.endpoints_named(endpoint_name(d))]
        ready = [d for d, b in final.items() if b["status"] == "ready"]
        for dep_id in ready:
            assert len(runpod.endpoints_named(endpoint_name(dep_id))) == 1
        ready_events: dict[str, set[str]] = {}
        for hook in fakes.webhooks.by_event("deployment.ready"):
            ready_events.setdefault(hook.json["deployment_id"], set()).add(hook.headers.get("webhook-id", ""))
        chaos = json.loads((server.data_dir / "chaos-stats.json").read_text())
        duplicates_delivered = _duplicates_delivered(server.data_dir / "queue.db")
        counts = {s: sum(1 for b in final.values() if b["status"] == s) for s in FINAL}
        errors = {}
        for b in final.values():
            if b["status"] == "failed":
                errors[b["error"]["code"]] = errors.get(b["error"]["code"], 0) + 1
        print(
            f"\nchaos: deployments={len(ids)} deleted_at_random={len(deleted_ids)} outcome={counts} "
            f"failure_codes={errors} settled_in={elapsed:.1f}s\n"
            f"faults injected: runpod={dict(runpod.fault_counts)} hub={dict(fakes.hub.fault_counts)} "
            f"crashes={chaos.get('crashes_injected', 0)}; "
            f"duplicate tasks enqueued={chaos.get('duplicates_enqueued', 0)} "
            f"delivered={duplicates_delivered}\n"
            f"endpoints created={len(runpod.created)} max_per_deployment={max(per_deployment.values())} "
            f"leaked={len(leaked)} stuck={len(stuck)} api_5xx={sum(1 for s in statuses if s >= 500)}\n"
            f"workers: {dict(workers.counts)}; early ready applied on adoption={_logged(final, 'before endpoint')} "
            f"status kept ahead of the step={_logged(final, 'Kept status')}; "
            f"ready webhooks: deployments={len(ready_events)} "
            f"with two events={sum(1 for v in ready_events.values() if len(v) > 1)}"
        )
        assert all(len(v) == 1 for v in ready_events.values()), ready_events
        assert max(per_deployment.values()) <= 1, {d: n for d, n in per_deployment.items() if n > 1}
        assert leaked == []
        assert all(final[d]["status"] == "deleted" for d in deleted_ids)
        assert [s for s in statuses if s >= 500] == []
        for body in final.values():
            if body["status"] == "failed":
                assert body["error"]["code"] and body["error"]["message"] and body["error"]["step"]
        assert chaos.get("crashes_injected", 0) > 0 and duplicates_delivered > 0
        assert sum(runpod.fault_counts.values()) > 0 and runpod.violations == []


def _logged(final: dict[str, dict], fragment: str) -> int:
    return sum(1 for b in final.values() if any(fragment in log["message"] for log in b["logs"]))


def _cleaned(body: dict) -> bool:
    return any("verified gone" in log["message"] for log in body["logs"])


def _duplicates_delivered(queue_db) -> int:
    with sqlite3.connect(queue_db) as conn:
        return conn.execute("SELECT COUNT(*) FROM tasks WHERE name LIKE '%#dup' AND attempts > 0").fetchone()[0]
