"""Webhook deliveries end to end: order across events, redelivery, signing secrets, undeliverable targets.

Long retry delays keep a retry parked in the durable local queue; `fast_forward` then makes the parked
tasks due at once (the queue's own time travel), so "what happens when that retry finally fires" is
checked deterministically, without waiting an hour or sleeping.
"""

from __future__ import annotations

import base64
import json
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from standardwebhooks import Webhook

from tests.conftest import Server
from tests.e2e_support import Fakes, create_body, wait_until

SECRET_HEADER = "X-Visgate-Internal-Secret"
PARKED = "3600,3600,3600"  # every retry waits an hour unless fast-forwarded


# ---- helpers ----------------------------------------------------------------------------------


def deploy(server: Server, fakes: Fakes, **overrides) -> str:
    resp = server.post("/v1/deployments", json=create_body(fakes, **overrides))
    assert resp.status_code == 202, resp.text
    return resp.json()["deployment_id"]


def deliveries(server: Server, dep_id: str) -> dict[str, dict]:
    resp = server.get(f"/v1/deployments/{dep_id}/webhook-deliveries")
    assert resp.status_code == 200, resp.text
    return {d["event"]: d for d in resp.json()["data"]}


def stored(server: Server, collection: str, doc_id: str) -> dict | None:
    """A document as the server stored it (for states the API may no longer show, e.g. a deleted tenant)."""
    with sqlite3.connect(server.data_dir / "orchestrator.db") as conn:
        row = conn.execute("SELECT doc FROM docs WHERE collection=? AND id=?", (collection, doc_id)).fetchone()
    return json.loads(row[0]) if row else None


def webhook_tasks_waiting(server: Server) -> int:
    with sqlite3.connect(server.data_dir / "queue.db") as conn:
        (n,) = conn.execute(
            "SELECT count(*) FROM tasks WHERE name LIKE 'webhook:%' AND state IN ('pending', 'leased')"
        ).fetchone()
    return n


def fast_forward(server: Server) -> None:
    """Make every parked webhook task due now, then wait until the queue has run them all."""
    with sqlite3.connect(server.data_dir / "queue.db") as conn:
        conn.execute("UPDATE tasks SET run_at = 0 WHERE name LIKE 'webhook:%' AND state = 'pending'")
    wait_until(lambda: webhook_tasks_waiting(server) == 0, message="parked webhook tasks did not run")


def worker_callback(server: Server, fakes: Fakes, dep_id: str, status: str):
    (created,) = [e for e in fakes.runpod.created if e["env"].get("DEPLOYMENT_ID") == dep_id]
    headers = {SECRET_HEADER: created["env"]["ORCHESTRATOR_CALLBACK_SECRET"]}
    return server.client.post(f"/internal/deployment-ready/{dep_id}", json={"status": status}, headers=headers)


# ---- 11.6: order, sequence, the deleted status -----------------------------------------------------


def test_a_failing_ready_is_superseded_by_deleted_and_never_arrives_after_it(start_server, fakes) -> None:
    server = start_server(env={**fakes.env(), "WEBHOOK_RETRY_SCHEDULE": "0.2," + PARKED})
    secret = server.get("/v1/webhooks/secret").json()["secret"]
    # The receiver refuses `ready` until it has seen `deleted`, then accepts everything.
    fakes.webhooks.answer = lambda body: 200 if fakes.webhooks.by_event("deployment.deleted") else 500
    dep_id = deploy(server, fakes)
    wait_until(lambda: deliveries(server, dep_id).get("deployment.ready", {}).get("attempts") == 2)
    assert deliveries(server, dep_id)["deployment.ready"]["status"] == "pending"  # its next retry is parked

    assert server.delete(f"/v1/deployments/{dep_id}").status_code == 204
    server.wait_status(dep_id, "deleted")
    gone = fakes.webhooks.wait_for_event("deployment.deleted")
    fast_forward(server)  # the parked `ready` retry fires now

    events = fakes.webhooks.events()
    assert "deployment.ready" not in events[events.index("deployment.deleted") :], events
    listed = deliveries(server, dep_id)
    assert listed["deployment.ready"]["status"] == "superseded", listed
    assert listed["deployment.ready"]["superseded_by"] == "deployment.deleted"
    assert listed["deployment.deleted"]["status"] == "delivered"

    body = Webhook(secret).verify(gone.body, gone.headers)
    ready = fakes.webhooks.by_event("deployment.ready")[0].json
    assert body["status"] == "deleted" and ready["status"] == "ready"
    assert body["sequence"] > ready["sequence"] >= 1
    assert body["occurred_at"] >= ready["occurred_at"]
    assert listed["deployment.deleted"]["sequence"] == body["sequence"]


def test_repeated_ready_reports_keep_one_delivery_and_one_sequence_number(server_fast, fakes) -> None:
    server = server_fast
    fakes.runpod.set_worker_state("initializing")
    dep_id = deploy(server, fakes)
    server.wait_status(dep_id, "downloading_model")
    for _ in range(3):
        assert worker_callback(server, fakes, dep_id, "ready").status_code == 200
    fakes.webhooks.wait_for_event("deployment.ready")
    assert server.delete(f"/v1/deployments/{dep_id}").status_code == 204
    server.wait_status(dep_id, "deleted")
    fakes.webhooks.wait_for_event("deployment.deleted")
    sequences = [r.json["sequence"] for r in fakes.webhooks.received]
    assert [r.json["event"] for r in fakes.webhooks.received] == ["deployment.ready", "deployment.deleted"]
    assert sequences == [1, 2]


# ---- 11.7: redeliver while a retry is parked -------------------------------------------------------


def test_redeliver_sends_now_and_the_schedule_continues_from_there(start_server, fakes) -> None:
    server = start_server(env={**fakes.env(), "WEBHOOK_RETRY_SCHEDULE": PARKED})
    fakes.webhooks.responses = [500, 500]  # the first attempt and the first replay fail; then 200
    dep_id = deploy(server, fakes)
    wait_until(lambda: deliveries(server, dep_id).get("deployment.ready", {}).get("attempts") == 1)
    ready = deliveries(server, dep_id)["deployment.ready"]
    assert ready["status"] == "pending"  # the next retry is an hour away
    url = f"/v1/deployments/{dep_id}/webhook-deliveries/{ready['delivery_id']}/redeliver"

    assert server.post(url).status_code == 202
    wait_until(lambda: len(fakes.webhooks.by_event("deployment.ready")) == 2, message="redeliver sent nothing")
    wait_until(lambda: deliveries(server, dep_id)["deployment.ready"]["attempts"] == 2)
    assert deliveries(server, dep_id)["deployment.ready"]["status"] == "pending"  # failed: the schedule goes on

    assert server.post(url).status_code == 202
    wait_until(lambda: deliveries(server, dep_id)["deployment.ready"]["status"] == "delivered")
    fast_forward(server)  # the retries that were parked for attempts 1 and 2 fire: each is a no-op

    sent = fakes.webhooks.by_event("deployment.ready")
    assert len(sent) == 3, [r.json for r in sent]
    assert {r.headers["webhook-id"] for r in sent} == {ready["delivery_id"]}
    final = deliveries(server, dep_id)["deployment.ready"]
    assert final["attempts"] == 3 and final["status"] == "delivered"
    wait_until(lambda: server.deployment(dep_id)["status"] == "ready")


# ---- 11.8: rotations ---------------------------------------------------------------------------------


def test_concurrent_rotations_each_answer_a_secret_that_was_stored(server_fast, fakes) -> None:
    server = server_fast
    auth = server.as_key(server.new_tenant_key())
    original = server.client.get("/v1/webhooks/secret", headers=auth).json()["secret"]
    with ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(lambda _: server.client.post("/v1/webhooks/secret/rotate", headers=auth), range(12)))
    assert [a.status_code for a in answers] == [200] * 12
    secrets = [a.json()["secret"] for a in answers]
    assert len(set(secrets)) == 12 and original not in secrets
    current = server.client.get("/v1/webhooks/secret", headers=auth).json()["secret"]
    assert current in secrets

    dep_id = server.client.post("/v1/deployments", json=create_body(fakes), headers=auth).json()["deployment_id"]
    hook = fakes.webhooks.wait_for(lambda r: r.json.get("deployment_id") == dep_id)
    verifying = [s for s in [original, *secrets] if _verifies(s, hook)]
    # The current secret and the one it replaced (another caller's answer); never the original.
    assert current in verifying and len(verifying) == 2 and original not in verifying


def test_rotation_takes_the_replaced_secret_inside_the_atomic_update(tmp_path: Path) -> None:
    """Deterministic: every rotation reaches the store's update before any of them writes."""
    from shared.accounts.tenants import TENANTS
    from shared.platform.crypto import Cipher
    from shared.services import Services
    from shared.store.sqlite import SqliteStore
    from shared.webhooks import signing

    class GatedStore(SqliteStore):
        gate: threading.Barrier | None = None

        def update(self, collection, doc_id, mutate):
            if collection == TENANTS and self.gate is not None:
                self.gate.wait()
            return super().update(collection, doc_id, mutate)

    key = "k1:" + base64.b64encode(b"\x01" * 32).decode()
    store = GatedStore(tmp_path / "db.sqlite")
    svc = Services(settings=None, store=store, queue=None, cipher=Cipher(key))  # type: ignore[arg-type]
    store.create(TENANTS, "t1", {"id": "t1"})
    original, _ = signing.secrets_for(svc, "t1")
    store.gate = threading.Barrier(4, timeout=10)
    with ThreadPoolExecutor(4) as pool:
        answers = [new for new, _ in pool.map(lambda _: signing.rotate(svc, "t1"), range(4))]
    store.gate = None
    current, previous = signing.secrets_for(svc, "t1")
    assert current in answers and previous in answers and previous != current
    assert original not in (current, previous)


def _verifies(secret: str, hook) -> bool:
    try:
        Webhook(secret).verify(hook.body, hook.headers)
        return True
    except Exception:
        return False


# ---- 10.4 and 10.5: deliveries that cannot be attempted ----------------------------------------------


def test_a_tenant_without_a_secret_gets_no_unsigned_delivery(server_fast, fakes) -> None:
    server = server_fast
    fakes.runpod.set_worker_state("initializing")
    dep_id = deploy(server, fakes)
    server.wait_status(dep_id, "downloading_model")
    owner = stored(server, "deployments", dep_id)["owner"]
    with sqlite3.connect(server.data_dir / "orchestrator.db") as conn:  # the tenant record is gone
        conn.execute("DELETE FROM docs WHERE collection='tenants' AND id=?", (owner,))
    fakes.runpod.set_worker_state("auto")

    did = None

    def failed() -> bool:
        nonlocal did
        rows = _stored_deliveries(server, dep_id)
        did = rows[0]["delivery_id"] if rows else None
        return bool(rows) and rows[0]["status"] == "failed"

    wait_until(failed, message="the delivery did not fail")
    doc = stored(server, "webhook_deliveries", did)
    assert "no webhook signing secret" in doc["last_error"] and doc["attempts"] == 1  # failed at once
    assert fakes.webhooks.received == []
    assert stored(server, "deployments", dep_id)["status"] == "webhook_failed"


@pytest.mark.parametrize("via", ["worker_callback", "health_poll"])
def test_a_url_that_cannot_be_attempted_fails_visibly_and_can_be_redelivered(server_fast, fakes, via) -> None:
    server = server_fast
    fakes.runpod.set_worker_state("initializing")
    dep_id = deploy(server, fakes)
    server.wait_status(dep_id, "downloading_model")
    # However it got stored (older records, another writer), a non-ASCII target must not wedge delivery.
    with sqlite3.connect(server.data_dir / "orchestrator.db") as conn:
        doc = stored(server, "deployments", dep_id)
        doc["webhook_url"] = fakes.hook_url + "/ä"
        conn.execute("UPDATE docs SET doc=? WHERE collection='deployments' AND id=?", (json.dumps(doc), dep_id))
    if via == "worker_callback":
        reported = worker_callback(server, fakes, dep_id, "ready")
        assert reported.status_code == 200, reported.text
        assert reported.json()["webhook_delivered"] is False
    else:
        fakes.runpod.set_worker_state("auto")
    server.wait_status(dep_id, "webhook_failed")
    ready = deliveries(server, dep_id)["deployment.ready"]
    assert ready["status"] == "failed" and "non-ASCII" in ready["last_error"]
    assert fakes.webhooks.received == []

    replay = server.post(f"/v1/deployments/{dep_id}/webhook-deliveries/{ready['delivery_id']}/redeliver")
    assert replay.status_code == 202
    wait_until(lambda: deliveries(server, dep_id)["deployment.ready"]["attempts"] == ready["attempts"] + 1)
    assert deliveries(server, dep_id)["deployment.ready"]["status"] == "failed"
    assert "incident" not in server.log()  # no unhandled error anywhere on the way


def _stored_deliveries(server: Server, dep_id: str) -> list[dict]:
    with sqlite3.connect(server.data_dir / "orchestrator.db") as conn:
        rows = conn.execute(
            "SELECT doc FROM docs WHERE collection='webhook_deliveries' AND json_extract(doc, '$.deployment_id')=?",
            (dep_id,),
        ).fetchall()
    return [json.loads(r[0]) for r in rows]


@pytest.fixture
def server_fast(start_server, fakes) -> Server:
    return start_server(env=fakes.env())


# ---- issue 13: the webhook URL is optional -----------------------------------------------------------


@pytest.mark.parametrize("via", ["worker_callback", "health_poll"])
def test_a_deployment_without_a_webhook_becomes_ready_and_records_no_delivery(server_fast, fakes, via) -> None:
    server = server_fast
    fakes.runpod.set_worker_state("initializing")
    created = server.post("/v1/deployments", json=create_body(fakes, user_webhook_url=None))
    assert created.status_code == 202, created.text
    assert created.json()["webhook_url"] is None
    dep_id = created.json()["deployment_id"]
    server.wait_status(dep_id, "downloading_model")
    if via == "worker_callback":
        reported = worker_callback(server, fakes, dep_id, "ready")
        assert reported.status_code == 200, reported.text
        assert reported.json()["status"] == "ready" and reported.json()["webhook_delivered"] is False
    else:
        fakes.runpod.set_worker_state("auto")
    view = server.wait_status(dep_id, "ready")
    assert view["webhook_url"] is None and view["error"] is None
    assert deliveries(server, dep_id) == {} and _stored_deliveries(server, dep_id) == []
    messages = [e["message"] for e in server.get(f"/v1/deployments/{dep_id}/logs").json()["data"]]
    assert "No webhook configured: deployment.ready is not sent" in messages

    assert server.delete(f"/v1/deployments/{dep_id}").status_code == 204
    server.wait_status(dep_id, "deleted")
    assert _stored_deliveries(server, dep_id) == [] and webhook_tasks_waiting(server) == 0
    assert fakes.webhooks.received == []
    assert "incident" not in server.log() and "Traceback" not in server.log()


def test_a_given_webhook_url_is_shown_on_the_deployment(server_fast, fakes) -> None:
    dep_id = deploy(server_fast, fakes)
    assert server_fast.get(f"/v1/deployments/{dep_id}").json()["webhook_url"] == fakes.hook_url
    refused = server_fast.post("/v1/deployments", json=create_body(fakes, user_webhook_url="ftp://x.test/h"))
    assert refused.status_code == 422  # still checked when given
