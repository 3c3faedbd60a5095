"""The reconciler: only this install's leftovers are deleted, lost work re-driven, deadlines enforced."""

from __future__ import annotations

import json
import sqlite3
import threading

import pytest

from shared.clients.runpod import RunpodClient, RunpodConfig
from shared.deploy.endpoint_names import format_name, parse_name
from shared.platform.crypto import keyed_hash
from shared.platform.settings import ConfigError, load_settings
from tests.e2e_support import Fakes, create_body, endpoint_name, running_fakes, wait_until

CHAOS = ["--services", "tests.chaos_build:services", "--wrap", "tests.chaos_build:wrap"]
SECRET = "reconciler-test-internal-secret"
# The reconciler runs only when a test calls it (the periodic slot lies decades ahead).
MANUAL = {"RECONCILE_INTERVAL_SECONDS": "1000000000", "INTERNAL_SECRET": SECRET}
LONG_AGO = "2020-01-01T00:00:00Z"
UNKNOWN = "dep_2026_000000000000dead"  # a deployment no store has


def reconcile_now(server) -> dict:
    """POST /internal/reconcile as the local queue does (its token derives from INTERNAL_SECRET)."""
    token = keyed_hash(SECRET, "local-queue", "task-token")
    resp = server.client.post("/internal/reconcile", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert resp.status_code == 200, resp.text
    return resp.json()


def plant(fakes: Fakes, name: str, created_at: str | None = LONG_AGO) -> str:
    """An endpoint made in the shared Runpod account outside the server under test (e.g. by its user)."""
    config = RunpodConfig(fakes.runpod.base_url, fakes.runpod.base_url, 5)
    body = {"type": "QUEUE", "image": "x/y:1", "scaling": {"type": "QUEUE_DELAY", "queueDelay": 4},
            "gpu": {"pools": ["ADA_24"]}, "name": name}  # fmt: skip
    with RunpodClient("rpa_test", config) as client:
        endpoint_id = client.create_endpoint(body)["id"]
    if created_at is not None:
        age(fakes, endpoint_id, created_at)
    return endpoint_id


def age(fakes: Fakes, endpoint_id: str, created_at: str = LONG_AGO) -> None:
    with fakes.runpod.lock:
        fakes.runpod.endpoints[endpoint_id]["createdAt"] = created_at


def ready_deployment(server, fakes: Fakes, key: str = "rpa_test") -> str:
    dep_id = server.post("/v1/deployments", json=create_body(fakes, user_runpod_key=key)).json()["deployment_id"]
    server.wait_status(dep_id, "ready")
    wait_until(lambda: server.deployment(dep_id)["steps"][-1]["name"] == "finalize"
               and server.deployment(dep_id)["steps"][-1]["state"] == "succeeded")  # fmt: skip
    return dep_id


def live(fakes: Fakes, endpoint_id: str) -> bool:
    with fakes.runpod.lock:
        return endpoint_id in fakes.runpod.endpoints


def messages(server, dep_id: str) -> str:
    return " ".join(x["message"] for x in server.deployment(dep_id)["logs"])


# ---- install identity -------------------------------------------------------------------------


def test_install_id_is_generated_once_into_data_dir_and_validated(tmp_path) -> None:
    first = load_settings({"DATA_DIR": str(tmp_path)})
    again = load_settings({"DATA_DIR": str(tmp_path)})
    assert first.install_id == again.install_id and parse_name("do-", f"do-{first.install_id}-{UNKNOWN}")
    assert (tmp_path / "install_id").stat().st_mode & 0o777 == 0o600
    assert load_settings({"DATA_DIR": str(tmp_path), "INSTALL_ID": "prod01"}).install_id == "prod01"
    for bad in ("Prod", "a-b", "x", "a" * 17, "dep_1"):
        with pytest.raises(ConfigError, match="INSTALL_ID"):
            load_settings({"DATA_DIR": str(tmp_path), "INSTALL_ID": bad})
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "install_id").write_text("NOT VALID")
    with pytest.raises(ConfigError, match="install_id"):
        load_settings({"DATA_DIR": str(tmp_path / "other")})
    gcp = {"ORCHESTRATOR_BACKEND": "gcp", "GOOGLE_CLOUD_PROJECT": "p", "REGION": "r", "TASKS_QUEUE": "orch-prod",
           "STEP_FUNCTION_URL": "https://s", "TASKS_INVOKER_SA": "i@p", "PUBLIC_BASE_URL": "https://a",
           "INTERNAL_SECRET": "x", "ENCRYPTION_KEYS": "k:" + "A" * 43 + "="}  # fmt: skip
    derived = load_settings(gcp).install_id
    assert derived == load_settings(gcp).install_id, "derived stably on gcp"
    assert derived != load_settings({**gcp, "TASKS_QUEUE": "orch-staging"}).install_id


def test_endpoint_names_carry_install_and_deployment() -> None:
    name = format_name("do-", "prod01", UNKNOWN)
    assert name == f"do-prod01-{UNKNOWN}" and len(name) <= 64
    assert parse_name("do-", name) == ("prod01", UNKNOWN, 1)
    assert parse_name("do-", f"{name}-g3") == ("prod01", UNKNOWN, 3)  # a green update's endpoint
    assert parse_name("do-", f"{name}-g1") is None and parse_name("do-", f"{name}-gx") is None
    for foreign in ("do-my-production-llm", f"do-{UNKNOWN}", f"xx-prod01-{UNKNOWN}", f"do-prod01-{UNKNOWN}x",
                    "do-prod01-dep_2026_XYZ", "someone-elses-app", ""):  # fmt: skip
        assert parse_name("do-", foreign) is None, foreign
    with pytest.raises(ValueError):
        format_name("do-", "Bad-Install", UNKNOWN)


# ---- the sweep ----------------------------------------------------------------------------------


def test_sweep_deletes_only_this_installs_leftovers(start_server) -> None:
    with running_fakes() as fakes:
        server = start_server(env={**fakes.env(), **MANUAL})
        gone = ready_deployment(server, fakes)
        keep = ready_deployment(server, fakes)
        (created,) = fakes.runpod.created_by_name(endpoint_name(keep))
        assert created["env"]["ORCHESTRATOR_INSTALL_ID"] == "testinst" and created["env"]["DEPLOYMENT_ID"] == keep
        keep_endpoint = server.deployment(keep)["runpod_endpoint_id"]
        age(fakes, keep_endpoint)
        assert server.delete(f"/v1/deployments/{gone}").status_code == 204
        server.wait_status(gone, "deleted")
        # Ours and to delete: a leak of the deleted deployment (however young) and one of an unknown one.
        leak_of_deleted = plant(fakes, endpoint_name(gone), created_at=None)
        leak_unknown = plant(fakes, endpoint_name(UNKNOWN))
        # Never touched: an unknown deployment still within the grace period, the user's own endpoints,
        # an old-style name, another install's endpoint.
        survivors = [
            plant(fakes, endpoint_name("dep_2026_0000000000000f5e"), created_at=None),
            plant(fakes, "do-my-production-llm"),
            plant(fakes, f"do-{UNKNOWN}"),
            plant(fakes, endpoint_name(UNKNOWN, install_id="otherinst")),
            plant(fakes, "someone-elses-app"),
        ]
        stats = reconcile_now(server)
        assert stats["orphans_deleted"] == 2, stats
        assert not live(fakes, leak_of_deleted) and not live(fakes, leak_unknown)
        assert all(live(fakes, e) for e in survivors), "an endpoint this install does not own was touched"
        assert live(fakes, keep_endpoint), "a live deployment's endpoint was touched"
        assert f"Reconciler: deleted leftover endpoint {leak_of_deleted}" in messages(server, gone)
        assert "is deleted" in messages(server, gone)
        process_log = server.log_path.read_text()
        assert f"deleted leftover endpoint {leak_unknown}" in process_log and "unknown to this install" in process_log
        assert "orphans_deleted" not in reconcile_now(server), "a second run finds nothing left"


def test_without_created_at_the_grace_runs_from_the_first_sighting(start_server) -> None:
    with running_fakes() as fakes:
        server = start_server(env={**fakes.env(), **MANUAL})
        ready_deployment(server, fakes)
        leak = plant(fakes, endpoint_name(UNKNOWN))
        with fakes.runpod.lock:
            del fakes.runpod.endpoints[leak]["createdAt"]
        assert "orphans_deleted" not in reconcile_now(server), "first seen just now: within the grace period"
        assert live(fakes, leak)
        with sqlite3.connect(server.data_dir / "orchestrator.db") as conn:
            (seen,) = conn.execute("SELECT doc FROM docs WHERE collection = 'orphan_sightings' AND id = ?", (leak,))
            assert seen
            conn.execute(
                "UPDATE docs SET doc = json_set(doc, '$.first_seen', ?) WHERE collection = 'orphan_sightings'",
                ("2020-01-01T00:00:00.000000Z",),
            )
        assert reconcile_now(server)["orphans_deleted"] == 1 and not live(fakes, leak)


def test_dry_run_reports_and_deletes_nothing(start_server) -> None:
    with running_fakes() as fakes:
        server = start_server(env={**fakes.env(), **MANUAL, "RECONCILE_DRY_RUN": "true"})
        ready_deployment(server, fakes)
        leak = plant(fakes, endpoint_name(UNKNOWN))
        mine = plant(fakes, "do-my-production-llm")
        stats = reconcile_now(server)
        assert stats["orphans_would_delete"] == 1 and "orphans_deleted" not in stats, stats
        assert live(fakes, leak) and live(fakes, mine)
        assert fakes.runpod.requests_to("DELETE") == []
        assert f"would delete (dry run) leftover endpoint {leak}" in server.log_path.read_text()


def test_two_installs_sharing_one_runpod_account_leave_each_other_alone(start_server) -> None:
    with running_fakes() as fakes:
        staging = start_server(env={**fakes.env(), **MANUAL, "INSTALL_ID": "staging1"})
        prod = start_server(env={**fakes.env(), **MANUAL, "INSTALL_ID": "prod0001"})
        staging_dep, prod_dep = ready_deployment(staging, fakes), ready_deployment(prod, fakes)
        staging_ep = staging.deployment(staging_dep)["runpod_endpoint_id"]
        prod_ep = prod.deployment(prod_dep)["runpod_endpoint_id"]
        # Each live endpoint is past the grace period and unknown to the other install's store.
        age(fakes, staging_ep)
        age(fakes, prod_ep)
        staging_leak = plant(fakes, endpoint_name(UNKNOWN, "staging1"))
        prod_leak = plant(fakes, endpoint_name(UNKNOWN, "prod0001"))
        assert reconcile_now(staging)["orphans_deleted"] == 1
        assert not live(fakes, staging_leak) and live(fakes, prod_leak)
        assert live(fakes, staging_ep) and live(fakes, prod_ep)
        assert reconcile_now(prod)["orphans_deleted"] == 1
        assert not live(fakes, prod_leak) and live(fakes, staging_ep) and live(fakes, prod_ep)
        assert "orphans_deleted" not in reconcile_now(staging)
        assert live(fakes, staging_ep) and live(fakes, prod_ep)


def test_two_runs_at_once_do_the_work_once(start_server) -> None:
    with running_fakes() as fakes:
        server = start_server(env={**fakes.env(), **MANUAL})
        ready_deployment(server, fakes)
        leak = plant(fakes, endpoint_name(UNKNOWN))
        # The first run's list of endpoints hangs (until the client's 2 s timeout): it holds the run.
        fakes.runpod.fail_next("GET", "/v2/serverless$", "timeout")  # the list, not the drift check's GET by id
        before = len(fakes.runpod.requests_to("GET", "/v2/serverless"))
        first: dict = {}
        runner = threading.Thread(target=lambda: first.update(reconcile_now(server)))
        runner.start()
        wait_until(lambda: len(fakes.runpod.requests_to("GET", "/v2/serverless")) > before)
        second = reconcile_now(server)
        runner.join()
        assert second.get("skipped_locked") == 1, second
        assert first.get("accounts_unreachable") == 1 and "skipped_locked" not in first, first
        # The lock is released: the next runs work (and agree that one deletion was made).
        runs = [reconcile_now(server) for _ in range(2)]
        assert sum(r.get("orphans_deleted", 0) for r in runs) == 1 and not live(fakes, leak)
        assert len([r for r in fakes.runpod.requests_to("DELETE") if r.path.endswith(leak)]) == 1
        # Many at once: whatever overlaps, nothing is done twice.
        leak2 = plant(fakes, endpoint_name("dep_2026_00000000000dead2"))
        results: list[dict] = []
        threads = [threading.Thread(target=lambda: results.append(reconcile_now(server))) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sum(r.get("orphans_deleted", 0) for r in results) == 1 and not live(fakes, leak2)
        assert len([r for r in fakes.runpod.requests_to("DELETE") if r.path.endswith(leak2)]) == 1


def test_a_run_is_bounded_and_the_next_one_continues(start_server) -> None:
    with running_fakes() as fakes:
        server = start_server(env={**fakes.env(), **MANUAL, "RECONCILE_MAX_ACCOUNTS": "1"})
        for key in ("rpa_test", "rpa_valid"):
            ready_deployment(server, fakes, key)
        swept = []
        for _ in range(2):
            fakes.runpod.clear_requests()
            stats = reconcile_now(server)
            assert stats["accounts_deferred"] == 1, stats
            (listing,) = [r for r in fakes.runpod.requests_to("GET") if r.path == "/v2/serverless"]
            swept.append(listing.header("authorization"))
        assert sorted(swept) == ["Bearer rpa_test", "Bearer rpa_valid"], "the second run took the other account"


# ---- stuck deployments --------------------------------------------------------------------------


def test_unfinished_deployment_without_a_step_is_redriven(start_server, tmp_path) -> None:
    data_dir = tmp_path / "shared-data"
    with running_fakes() as fakes:
        # Every step task is lost, so the deployment sits in `validating`.
        chaos = start_server(
            env={**fakes.env(), **MANUAL, "CHAOS_CRASH_RATE": "0", "CHAOS_DUPLICATE": "0", "CHAOS_DROP_RATE": "1"},
            args=CHAOS,
            data_dir=data_dir,
        )
        dep_id = chaos.post("/v1/deployments", json=create_body(fakes)).json()["deployment_id"]
        assert chaos.deployment(dep_id)["status"] == "validating"
        chaos.stop()
        # As an older version or a lost move could leave it: unfinished, no step, nothing pending.
        with sqlite3.connect(data_dir / "orchestrator.db") as conn:
            conn.execute(
                "UPDATE docs SET doc = json_set(doc, '$.step', NULL, '$.updated_at', ?) "
                "WHERE collection = 'deployments' AND id = ?",
                ("2020-01-01T00:00:00.000000Z", dep_id),
            )
        server = start_server(env={**fakes.env(), **MANUAL}, data_dir=data_dir)
        assert server.deployment(dep_id)["status"] == "validating"
        stats = reconcile_now(server)
        assert stats.get("steps_redriven") == 1, stats
        server.wait_status(dep_id, "ready")
        assert "no step scheduled" in messages(server, dep_id)
        assert "steps_redriven" not in reconcile_now(server), "a deployment that moved is not re-driven again"


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
            assert len(fakes.runpod.created_by_name(endpoint_name(dep_id))) == 1
        server.wait_status(ids[0], "deleted", timeout=40)
        redriven = [d for d in ids if "Reconciler:" in messages(server, d)]
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


def _doc(server, collection: str, doc_id: str) -> dict:
    with sqlite3.connect(server.data_dir / "orchestrator.db") as conn:
        row = conn.execute("SELECT doc FROM docs WHERE collection = ? AND id = ?", (collection, doc_id)).fetchone()
    return json.loads(row[0]) if row else {}


def _edit_doc(server, collection: str, doc_id: str, sql_set: str, *args) -> None:
    with sqlite3.connect(server.data_dir / "orchestrator.db") as conn:
        conn.execute(f"UPDATE docs SET doc = {sql_set} WHERE collection = ? AND id = ?", (*args, collection, doc_id))


def test_a_lost_ready_announcement_and_a_lost_attempt_are_rescued(start_server) -> None:
    """A crash right after the state change loses its webhook (announced after the commit), and one between
    recording a delivery and queueing its attempt leaves it pending with nothing to run it: the reconciler
    announces the first and queues the second again."""
    with running_fakes() as fakes:
        server = start_server(env={**fakes.env(), **MANUAL})
        dep_id = ready_deployment(server, fakes)
        wait_until(lambda: len(fakes.webhooks.by_event("deployment.ready")) == 1)
        # The delivery's bookkeeping ends with a write of the deployment (webhook_delivered), which may land after
        # the receiver got the call: wait for it, or it would undo the edits below.
        wait_until(lambda: _doc(server, "deployments", dep_id).get("webhook_delivered") is True)
        assert "webhooks_announced" not in reconcile_now(server), "a deployment just made ready is left alone"

        # As a crash before the announcement leaves it: ready, quiet, and no delivery at all.
        deliveries = server.get(f"/v1/deployments/{dep_id}/webhook-deliveries").json()
        (delivery,) = deliveries if isinstance(deliveries, list) else deliveries["data"]
        with sqlite3.connect(server.data_dir / "orchestrator.db") as conn:
            conn.execute(
                "DELETE FROM docs WHERE collection = 'webhook_deliveries' AND id = ?", (delivery["delivery_id"],)
            )
        _edit_doc(server, "deployments", dep_id, "json_set(doc, '$.updated_at', ?)", "2020-01-01T00:00:00.000000Z")
        assert reconcile_now(server).get("webhooks_announced") == 1
        wait_until(
            lambda: len(fakes.webhooks.by_event("deployment.ready")) == 2, message="the lost webhook was not sent"
        )

        # As a crash before the first attempt was queued leaves it: pending, nothing scheduled, long overdue.
        _edit_doc(server, "webhook_deliveries", delivery["delivery_id"],
                  "json_set(doc, '$.status', 'pending', '$.attempts', 0, '$.created_at', ?, '$.last_attempt_at', NULL)",
                  LONG_AGO)  # fmt: skip
        _edit_doc(server, "deployments", dep_id, "json_set(doc, '$.updated_at', ?)", "2020-01-01T00:00:00.000000Z")
        assert reconcile_now(server).get("webhooks_requeued") == 1
        wait_until(
            lambda: len(fakes.webhooks.by_event("deployment.ready")) == 3, message="the pending delivery never ran"
        )
        assert "webhook announced" in messages(server, dep_id)


def test_a_lost_deleted_announcement_is_rescued_while_the_deletion_is_recent(start_server) -> None:
    """`deployment.deleted` is announced once the record says deleted, a status the reconciler's pass over
    unfinished deployments leaves out: a crash in between must not lose it for good."""
    with running_fakes() as fakes:
        server = start_server(env={**fakes.env(), **MANUAL})
        dep_id = ready_deployment(server, fakes)
        assert server.delete(f"/v1/deployments/{dep_id}").status_code in (202, 204)
        server.wait_status(dep_id, "deleted")
        wait_until(lambda: len(fakes.webhooks.by_event("deployment.deleted")) == 1)
        assert "webhooks_announced" not in reconcile_now(server), "a deletion just announced is left alone"

        def lose_the_announcement(endpoint_deleted_at: str | None = None) -> None:
            with sqlite3.connect(server.data_dir / "orchestrator.db") as conn:
                conn.execute(
                    "DELETE FROM docs WHERE collection = 'webhook_deliveries' AND json_extract(doc, '$.event') = ?"
                    " AND json_extract(doc, '$.deployment_id') = ?",
                    ("deployment.deleted", dep_id),
                )
            _edit_doc(server, "deployments", dep_id, "json_set(doc, '$.updated_at', ?)", "2020-01-01T00:00:00.000000Z")
            if endpoint_deleted_at:
                _edit_doc(
                    server, "deployments", dep_id, "json_set(doc, '$.endpoint_deleted_at', ?)", endpoint_deleted_at
                )

        lose_the_announcement()
        assert reconcile_now(server).get("webhooks_announced") == 1
        wait_until(
            lambda: len(fakes.webhooks.by_event("deployment.deleted")) == 2, message="the lost webhook was not sent"
        )
        assert "webhook announced" in messages(server, dep_id)
        assert "webhooks_announced" not in reconcile_now(server)  # announced once: not again

        lose_the_announcement(endpoint_deleted_at="2020-01-01T00:00:00.000000Z")  # deleted long ago: left alone
        assert "webhooks_announced" not in reconcile_now(server)
