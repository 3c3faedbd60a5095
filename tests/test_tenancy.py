"""Tenants end to end: stored credentials, signed webhooks, the model registry, idempotency expiry, SSRF at delivery.

What needs no step to run (admin, keys, isolation, idempotency, SSRF at create) is in tests/inprocess/.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from standardwebhooks import Webhook

from shared.accounts import idempotency
from shared.platform.clock import iso
from shared.platform.crypto import Cipher
from shared.platform.errors import ConflictError
from shared.platform.settings import load_settings
from shared.services import Services
from shared.store.sqlite import SqliteStore
from tests.conftest import ADMIN_TOKEN
from tests.e2e_support import GATED, SDXL, create_body, fresh_rate_window, wait_until


@pytest.fixture
def server(start_server, fakes):
    return start_server(env=fakes.env())


# ---- credentials ------------------------------------------------------------------------------


def test_stored_credentials_masked_validated_and_used_by_default(server, fakes) -> None:
    auth = server.as_key(server.new_tenant_key())
    created = server.client.post("/v1/credentials", json={"name": "main", "api_key": "rpa_valid"}, headers=auth)
    assert created.status_code == 201
    cred = created.json()
    assert cred["masked_key"] == "rpa_****alid" and cred["is_default"] is True and "rpa_valid" not in created.text
    bad = server.client.post("/v1/credentials", json={"credentials": {"api_key": "rpa_nope_nope"}}, headers=auth).json()
    assert server.client.post(f"/v1/credentials/{cred['id']}/validate", headers=auth).json()["is_valid"] is True
    assert server.client.post(f"/v1/credentials/{bad['id']}/validate", headers=auth).json()["is_valid"] is False
    listed = server.client.get("/v1/credentials", headers=auth).json()["data"]
    assert [c["id"] for c in listed] == [cred["id"], bad["id"]]
    body = create_body(fakes, user_runpod_key=None)
    dep_id = server.client.post("/v1/deployments", json=body, headers=auth).json()["deployment_id"]
    wait_until(lambda: server.client.get(f"/v1/deployments/{dep_id}", headers=auth).json()["status"] == "ready")
    used = [r for r in fakes.runpod.requests if r.method == "POST" and r.path == "/v2/serverless"]
    assert used and used[0].headers["authorization"] == "Bearer rpa_valid"
    assert server.client.post(f"/v1/credentials/{bad['id']}/default", headers=auth).json()["is_default"] is True
    assert server.client.delete(f"/v1/credentials/{bad['id']}", headers=auth).status_code == 204
    none_left = server.client.post("/v1/deployments", json=body, headers=auth)
    assert none_left.status_code == 422 and "No Runpod key" in none_left.json()["message"]
    other = server.as_key(server.new_tenant_key("Other"))
    assert server.client.get(f"/v1/credentials/{cred['id']}", headers=other).status_code == 404


def test_no_secret_in_plaintext_in_the_database_or_the_logs(server, fakes) -> None:
    api_key = server.new_tenant_key()
    auth = server.as_key(api_key)
    server.client.post("/v1/credentials", json={"api_key": "rpa_valid"}, headers=auth)
    secret = server.client.get("/v1/webhooks/secret", headers=auth).json()["secret"]
    inline = create_body(fakes, user_runpod_key="rpa_test", user_hf_token="hf_good", hf_model_id="acme/gated-model")
    dep_id = server.client.post("/v1/deployments", json=inline, headers=auth).json()["deployment_id"]
    wait_until(lambda: server.client.get(f"/v1/deployments/{dep_id}", headers=auth).json()["status"] == "ready")
    fakes.webhooks.wait_for(lambda r: r.json.get("event") == "deployment.ready")
    blob = b""
    for path in server.data_dir.glob("*.db*"):
        blob += path.read_bytes()
    with sqlite3.connect(server.data_dir / "orchestrator.db") as conn:
        blob += "".join(row[0] for row in conn.execute("SELECT doc FROM docs")).encode()
    for plaintext in (api_key, "rpa_valid", "rpa_test", "hf_good", secret, ADMIN_TOKEN):
        assert plaintext.encode() not in blob, f"{plaintext[:6]}... is stored in plaintext"
        assert plaintext not in server.log(), f"{plaintext[:6]}... appears in the server log"
    everything = server.client.get(f"/v1/deployments/{dep_id}", headers=auth).text
    assert "rpa_test" not in everything and "hf_good" not in everything


# ---- webhooks -------------------------------------------------------------------------------------


def test_webhooks_are_signed_and_rotation_keeps_both_secrets(server, fakes) -> None:
    auth = server.as_key(server.new_tenant_key())
    secret = server.client.get("/v1/webhooks/secret", headers=auth).json()["secret"]
    assert secret.startswith("whsec_")
    dep_id = server.client.post("/v1/deployments", json=create_body(fakes), headers=auth).json()["deployment_id"]
    hook = fakes.webhooks.wait_for(lambda r: r.json.get("deployment_id") == dep_id)
    verified = Webhook(secret).verify(hook.body, hook.headers)
    assert verified["event"] == "deployment.ready" and verified["deployment_id"] == dep_id
    with pytest.raises(Exception):  # noqa: B017 - any verification failure
        Webhook("whsec_" + "A" * 32).verify(hook.body, hook.headers)

    rotated = server.client.post("/v1/webhooks/secret/rotate", headers=auth).json()
    assert rotated["secret"] != secret and rotated["previous_secret_valid_until"]
    server.client.delete(f"/v1/deployments/{dep_id}", headers=auth)
    gone = fakes.webhooks.wait_for(lambda r: r.json.get("event") == "deployment.deleted")
    assert len(gone.headers["webhook-signature"].split(" ")) == 2
    assert Webhook(rotated["secret"]).verify(gone.body, gone.headers)["event"] == "deployment.deleted"
    assert Webhook(secret).verify(gone.body, gone.headers)["event"] == "deployment.deleted"


def test_deliveries_are_listed_and_replayed_under_the_same_id(server, fakes) -> None:
    fakes.webhooks.responses = [500, 500, 500, 500]
    dep_id = server.post("/v1/deployments", json=create_body(fakes)).json()["deployment_id"]
    server.wait_status(dep_id, "webhook_failed")
    deliveries = server.get(f"/v1/deployments/{dep_id}/webhook-deliveries").json()["data"]
    (ready,) = [d for d in deliveries if d["event"] == "deployment.ready"]
    assert ready["status"] == "failed" and ready["attempts"] == 4 and ready["last_status_code"] == 500
    replay = server.post(f"/v1/deployments/{dep_id}/webhook-deliveries/{ready['delivery_id']}/redeliver")
    assert replay.status_code == 202
    wait_until(lambda: len(fakes.webhooks.by_event("deployment.ready")) == 5)
    assert {r.headers["webhook-id"] for r in fakes.webhooks.by_event("deployment.ready")} == {ready["delivery_id"]}
    wait_until(lambda: server.deployment(dep_id)["status"] == "ready")  # delivered at last
    missing = server.post(f"/v1/deployments/{dep_id}/webhook-deliveries/whd_nope/redeliver")
    assert missing.status_code == 404


def test_redirects_are_not_followed(server, fakes) -> None:
    fakes.webhooks.responses = [302, 302, 302, 302]
    dep_id = server.post("/v1/deployments", json=create_body(fakes)).json()["deployment_id"]
    server.wait_status(dep_id, "webhook_failed")
    (ready,) = [d for d in server.get(f"/v1/deployments/{dep_id}/webhook-deliveries").json()["data"]
                if d["event"] == "deployment.ready"]  # fmt: skip
    assert "redirects are not followed" in ready["last_error"]


def test_private_targets_are_refused_at_delivery_too(start_server, fakes) -> None:
    # Created while private targets were allowed, delivered by an instance where they are not.
    allowed = start_server(env={**fakes.env(), "ALLOW_PRIVATE_WEBHOOKS": "true"})
    fakes.runpod.set_worker_state("initializing")
    dep_id = allowed.post("/v1/deployments", json=create_body(fakes)).json()["deployment_id"]
    allowed.wait_status(dep_id, "downloading_model")
    allowed.stop()
    strict = start_server(env={**fakes.env(), "ALLOW_PRIVATE_WEBHOOKS": "false"}, data_dir=allowed.data_dir)
    fakes.runpod.set_worker_state("auto")
    strict.wait_status(dep_id, "webhook_failed", timeout=30)
    assert fakes.webhooks.received == []
    (ready,) = [d for d in strict.get(f"/v1/deployments/{dep_id}/webhook-deliveries").json()["data"]
                if d["event"] == "deployment.ready"]  # fmt: skip
    assert "refused" in ready["last_error"] and "loopback" in ready["last_error"]


# ---- rate limit across processes, registry (idempotency: tests/inprocess/test_tenants.py) ---------


def test_rate_limit_holds_across_two_server_processes(start_server, tmp_path) -> None:
    env = {"RATE_LIMIT_PER_MINUTE": "10", "HF_ENDPOINT": "http://127.0.0.1:9"}
    one = start_server(env=env, data_dir=tmp_path / "shared")
    two = start_server(env=env, data_dir=tmp_path / "shared")
    fresh_rate_window()
    statuses = [(one if i % 2 else two).get("/v1/deployments").status_code for i in range(12)]
    assert statuses.count(200) == 10 and statuses.count(429) == 2, statuses
    limited = one.get("/v1/deployments")
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
    assert limited.headers["RateLimit-Remaining"] == "0"


def test_model_registry_drives_model_name(server, fakes) -> None:
    models = server.admin("GET", "/admin/models").json()["data"]
    assert any(m["name"] == "veo3" and m["provider"] == "fal" for m in models)
    created = server.admin("POST", "/admin/models", json={"name": "house-sdxl", "provider": "acme",
                                                          "hf_model_id": SDXL, "vram_required_gb": 30})  # fmt: skip
    assert created.status_code == 201
    body = create_body(fakes, hf_model_id=None, model_name="house-sdxl", provider="acme", gpu_tier="auto")
    dep_id = server.post("/v1/deployments", json=body).json()["deployment_id"]
    ready = server.wait_status(dep_id, "ready")
    assert ready["model_vram_gb"] == 30 and ready["gpu_allocated"] == "AMPERE_48"
    assert server.admin("DELETE", "/admin/models/acme/house-sdxl").status_code == 204
    assert server.post("/v1/deployments", json=body).status_code == 422
    assert server.admin("DELETE", "/admin/models/acme/house-sdxl").status_code == 404
    assert server.admin("POST", "/admin/models", json={"name": "x", "hf_model_id": "bad id!"}).status_code == 422


# ---- issue 10: keys no header can carry (bootstrap tenants, failed authentications: tests/inprocess) --


def _boot_tenant(key: str) -> str:
    return "tenant_boot_" + hashlib.sha256(key.encode()).hexdigest()[:16]


def _db_doc(server, collection: str, doc_id: str) -> dict | None:
    with sqlite3.connect(server.data_dir / "orchestrator.db") as conn:
        row = conn.execute("SELECT doc FROM docs WHERE collection=? AND id=?", (collection, doc_id)).fetchone()
    return json.loads(row[0]) if row else None


def _db_put(server, collection: str, doc_id: str, doc: dict) -> None:
    with sqlite3.connect(server.data_dir / "orchestrator.db") as conn:
        conn.execute("INSERT OR REPLACE INTO docs (collection, id, doc) VALUES (?, ?, ?)",
                     (collection, doc_id, json.dumps(doc)))  # fmt: skip


def _cipher(server) -> Cipher:
    return Cipher((server.data_dir / "encryption_keys").read_text().strip())


def test_keys_no_header_can_carry_are_refused_and_never_reach_a_header(server, fakes) -> None:
    for bad in ("rpa_ä", "rpa_with space", "rpa_\u2028x", "rpa_\x7f"):
        for body in ({"api_key": bad}, {"credentials": {"api_key": bad}}):
            resp = server.post("/v1/credentials", json=body)
            assert resp.status_code == 422 and resp.json()["error"] == "ValidationError", (bad, resp.text)
            assert bad not in resp.text
        resp = server.post("/v1/deployments", json=create_body(fakes, user_runpod_key=bad))
        assert resp.status_code == 422, (bad, resp.text)
        resp = server.post("/v1/deployments", json=create_body(fakes, user_hf_token=bad.replace("rpa_", "hf_")))
        assert resp.status_code == 422, (bad, resp.text)
    assert server.get("/v1/credentials").json()["data"] == [] and server.get("/v1/deployments").json()["data"] == []
    # A credential stored before this check existed: validating it says invalid, never 500.
    tid, cipher = _boot_tenant(server.api_key), _cipher(server)
    _db_put(server, "credentials", "cred_legacy", {
        "id": "cred_legacy", "tenant_id": tid, "provider": "runpod", "name": "old", "masked_key": "****",
        "secret": cipher.encrypt("rpa_ä", context="cred_legacy"), "is_valid": None,
        "created_at": "2026-01-01T00:00:00.000000Z"})  # fmt: skip
    checked = server.post("/v1/credentials/cred_legacy/validate")
    assert checked.status_code == 200 and checked.json()["is_valid"] is False, checked.text
    # A deployment whose stored inline key predates the check: jobs are a 409 that says what to do.
    dep_id = server.post("/v1/deployments", json=create_body(fakes)).json()["deployment_id"]
    server.wait_status(dep_id, "ready")
    doc = _db_doc(server, "deployments", dep_id)
    _db_put(server, "deployments", dep_id, {**doc, "runpod_key": cipher.encrypt("rpa_ü", context=dep_id)})
    run = server.post(f"/v1/deployments/{dep_id}/run", json={"input": {}})
    assert run.status_code == 409 and "/credential" in run.json()["message"], run.text


def test_the_operators_hf_token_serves_tenants_only_when_allowed(start_server, fakes) -> None:
    body = create_body(fakes, hf_model_id=GATED, gpu_tier="auto")
    strict = start_server(env={**fakes.env(), "HF_TOKEN": "hf_good"})
    dep_id = strict.post("/v1/deployments", json=body).json()["deployment_id"]
    assert strict.wait_status(dep_id, {"failed", "ready"})["error"]["code"] == "model_gated"
    strict.stop()
    allowed = start_server(env={**fakes.env(), "HF_TOKEN": "hf_good", "HF_TOKEN_FOR_TENANTS": "true"})
    dep_id = allowed.post("/v1/deployments", json=body).json()["deployment_id"]
    assert allowed.wait_status(dep_id, {"failed", "ready"})["status"] == "ready"


# ---- issue 11.10: credentials by reference ----------------------------------------------------------


def _settled(server, dep_id: str) -> str:
    """Ready with finalize done (scaling then goes to Runpod at once); returns the endpoint id."""
    finalized = lambda: any(s["name"] == "finalize" and s["state"] == "succeeded"  # noqa: E731
                            for s in server.deployment(dep_id)["steps"])  # fmt: skip
    wait_until(finalized)
    return server.wait_status(dep_id, "ready")["runpod_endpoint_id"]


def _auth_of(fakes, path_suffix: str) -> list[str]:
    return [r.headers.get("authorization", "") for r in fakes.runpod.requests
            if r.method == "PATCH" and r.path.endswith(path_suffix)]  # fmt: skip


def test_deployments_use_a_stored_credential_by_reference(server, fakes) -> None:
    cred = server.post("/v1/credentials", json={"api_key": "rpa_valid"}).json()
    body = create_body(fakes, user_runpod_key=None, credential_id=cred["id"])
    dep_id = server.post("/v1/deployments", json=body).json()["deployment_id"]
    endpoint = _settled(server, dep_id)
    stored = _db_doc(server, "deployments", dep_id)
    assert stored["credential_id"] == cred["id"] and stored["runpod_key"] == ""  # no copy of the key
    # The key is rotated at Runpod; one PUT moves the deployment to the new key.
    fakes.runpod.valid_keys = {"rpa_test", "rpa_rotated"}
    put = server.client.put(f"/v1/credentials/{cred['id']}", json={"api_key": "rpa_rotated"}, headers=server.auth)
    assert put.status_code == 200 and put.json()["masked_key"] == "rpa_****ated" and "rpa_rotated" not in put.text
    scaled = server.post(f"/v1/deployments/{dep_id}/scale", json={"min_replicas": 0, "max_replicas": 2})
    assert scaled.status_code == 200, scaled.text
    wait_until(lambda: "Bearer rpa_rotated" in _auth_of(fakes, endpoint))
    refused = server.delete(f"/v1/credentials/{cred['id']}")
    assert refused.status_code == 409 and refused.json()["details"]["deployment_ids"] == [dep_id]
    bad = server.client.put(f"/v1/credentials/{cred['id']}", json={"api_key": "rpa_ä"}, headers=server.auth)
    assert bad.status_code == 422
    other = server.as_key(server.new_tenant_key("Other"))
    assert server.client.put(f"/v1/credentials/{cred['id']}", json={"api_key": "rpa_x1"}, headers=other).status_code \
        == 404  # fmt: skip
    assert server.delete(f"/v1/deployments/{dep_id}").status_code == 204
    server.wait_status(dep_id, "deleted")
    assert server.delete(f"/v1/credentials/{cred['id']}").status_code == 204


def test_a_deployment_can_be_given_a_new_key(server, fakes) -> None:
    dep_id = server.post("/v1/deployments", json=create_body(fakes)).json()["deployment_id"]  # inline rpa_test
    endpoint = _settled(server, dep_id)
    fakes.runpod.valid_keys = {"rpa_valid", "rpa_rotated"}  # rpa_test revoked at Runpod
    path = f"/v1/deployments/{dep_id}/credential"
    for body in ({}, {"user_runpod_key": "rpa_x", "credential_id": "cred_x"}, {"user_runpod_key": "rpa_ä"},
                 {"credential_id": "cred_nope"}):  # fmt: skip
        assert server.post(path, json=body).status_code == 422, body
    changed = server.post(path, json={"user_runpod_key": "rpa_rotated"})
    assert changed.status_code == 200 and changed.json() == {
        "deployment_id": dep_id, "credential_id": None, "masked_key": "rpa_****ated"}  # fmt: skip
    assert server.post(f"/v1/deployments/{dep_id}/scale", json={"min_replicas": 0, "max_replicas": 2}).status_code \
        == 200  # fmt: skip
    wait_until(lambda: "Bearer rpa_rotated" in _auth_of(fakes, endpoint))
    cred = server.post("/v1/credentials", json={"api_key": "rpa_valid"}).json()
    assert server.post(path, json={"credential_id": cred["id"]}).json()["credential_id"] == cred["id"]
    assert _db_doc(server, "deployments", dep_id)["runpod_key"] == ""
    assert server.delete(f"/v1/credentials/{cred['id']}").status_code == 409
    assert server.post(f"/v1/deployments/{dep_id}/scale", json={"min_replicas": 0, "max_replicas": 1}).status_code \
        == 200  # fmt: skip
    wait_until(lambda: "Bearer rpa_valid" in _auth_of(fakes, endpoint))


# ---- issue 11: idempotency keys and counters expire; a stale key is taken over once ---------------


def test_expired_idempotency_keys_and_counters_are_dropped(server, fakes) -> None:
    tid = _boot_tenant(server.api_key)
    past = "2026-01-01T00:00:00.000000Z"
    used = hashlib.sha256(f"{tid}|reused-key".encode()).hexdigest()
    _db_put(server, "idempotency_keys", used, {"body_hash": "other", "state": "done", "answer": {},
                                               "started_at": past, "expire_at": past})  # fmt: skip
    _db_put(server, "idempotency_keys", "stale", {"state": "done", "started_at": past, "expire_at": past})
    _db_put(server, "rate_limits", "stale:1", {"count": 3, "expire_at": past})
    # An expired key counts as unused: a new request with it creates (it was a 409 "different body").
    resp = server.post("/v1/deployments", json=create_body(fakes), headers={"Idempotency-Key": "reused-key"})
    assert resp.status_code == 202, resp.text
    assert _db_doc(server, "idempotency_keys", "stale") is None
    assert _db_doc(server, "rate_limits", "stale:1") is None
    again = server.post("/v1/deployments", json=create_body(fakes), headers={"Idempotency-Key": "reused-key"})
    assert again.json()["deployment_id"] == resp.json()["deployment_id"]


def test_idempotency_keys_expire_on_firestore_through_a_ttl_policy() -> None:
    from tests.test_infra import hcl

    assert hcl()["locals"]["ttl_fields"]["idempotency_keys"] == "expire_at"  # idempotency.once writes expire_at


class _PausingStore(SqliteStore):
    """A real SQLite store that holds every reader of an idempotency key at a barrier: both requests
    read the stale key before either writes, the interleaving that let two takeovers both win."""

    def __init__(self, path: Path, barrier: threading.Barrier) -> None:
        super().__init__(path)
        self.barrier = barrier

    def get(self, collection: str, doc_id: str):
        doc = super().get(collection, doc_id)
        if collection == idempotency.KEYS:
            self.barrier.wait(10)
        return doc


def test_two_takeovers_of_a_stale_idempotency_key_create_once(tmp_path) -> None:
    settings = load_settings({"DATA_DIR": str(tmp_path)})
    store = _PausingStore(tmp_path / "orchestrator.db", threading.Barrier(2))
    svc = Services(
        settings=settings, store=store, queue=None, cipher=Cipher(settings.encryption_keys.get_secret_value())
    )
    stale = iso(svc.now() - timedelta(seconds=120))
    doc_id = hashlib.sha256(b"t1|k").hexdigest()
    until = iso(svc.now() + timedelta(hours=1))
    pending = {"body_hash": "b", "state": "pending", "started_at": stale, "holder": "dead", "expire_at": until}
    store.create(idempotency.KEYS, doc_id, pending)
    created: list[int] = []
    outcomes: list[object] = []

    def request() -> None:
        try:
            outcomes.append(idempotency.once(svc, "t1", "k", "b", lambda: created.append(1) or {"n": len(created)}))
        except ConflictError as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=request) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert len(created) == 1, outcomes
    assert sum(isinstance(o, ConflictError) for o in outcomes) == 1
