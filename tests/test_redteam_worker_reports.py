"""Adversarial worker reports: a valid callback secret, hostile bodies. Nothing may grow the deployment
record without bound (Firestore refuses documents over 1 MiB: every later write, the DELETE's included,
would fail) and nothing may reach the store that it cannot hold (ints past 64 bits, non-finite floats)."""

from __future__ import annotations

import pytest

from tests.e2e_support import create_body, wait_until


@pytest.fixture
def provisioning(start_server, fakes):
    """A server and a deployment waiting for its worker, with the worker's callback URL and secret."""
    fakes.runpod.set_worker_state("initializing")  # the health poll never sees a worker: it keeps waiting
    server = start_server(env=fakes.env())
    dep_id = server.post("/v1/deployments", json=create_body(fakes)).json()["deployment_id"]
    server.wait_status(dep_id, "downloading_model")
    wait_until(lambda: fakes.runpod.created)
    env = fakes.runpod.created[0]["env"]
    headers = {"X-Visgate-Internal-Secret": env["ORCHESTRATOR_CALLBACK_SECRET"]}
    return server, dep_id, f"/internal/deployment-ready/{dep_id}", headers


def test_worker_metadata_stays_bounded_under_reports_with_ever_new_keys(provisioning) -> None:
    server, dep_id, url, headers = provisioning
    for n in range(40):
        metadata = {f"file_{n}_{i}": "x" * 60 for i in range(90)}  # ~7 KB each, every report new keys
        resp = server.client.post(url, headers=headers, json={"status": "downloading_model", "metadata": metadata})
        assert resp.status_code == 200, resp.text
    body = server.deployment(dep_id)
    assert len(str(body["worker_metadata"])) < 20_000  # was ~280 KB and growing with every report
    assert "file_39_0" in body["worker_metadata"]  # the latest report is kept


@pytest.mark.parametrize(
    "raw",
    [
        b'{"status":"downloading_model","metadata":{"size":1' + b"0" * 30 + b"}}",  # past int64
        b'{"status":"downloading_model","metadata":{"size":-1' + b"0" * 19 + b"}}",
        b'{"status":"downloading_model","metadata":{"ratio":1e400}}',  # parsed as inf
        b'{"status":"downloading_model","metadata":{"deep":[{"x":-1e400}]}}',
    ],
)
def test_worker_metadata_the_store_cannot_hold_is_a_422(provisioning, raw: bytes) -> None:
    server, dep_id, url, headers = provisioning
    resp = server.client.post(url, headers={**headers, "Content-Type": "application/json"}, content=raw)
    assert resp.status_code == 422, resp.text
    assert set(resp.json()) == {"error", "message", "details"}
    assert server.deployment(dep_id)["worker_metadata"] == {}


def test_worker_log_lines_kept_on_the_deployment_stay_within_a_document(provisioning) -> None:
    """Errors and warnings are kept on the record: bounded in bytes, not only in count (Firestore: 1 MiB)."""
    server, dep_id, url, headers = provisioning
    log_url = url.replace("deployment-ready", "deployment-logs")
    for n in range(50):
        for level in ("error", "warning"):
            line = {"level": level, "message": f"{n} " + "€" * 3990}  # ~12 KB of UTF-8 each
            assert server.client.post(log_url, headers=headers, json=line).status_code == 200
    body = server.deployment(dep_id)
    kept = body["errors"] + body["warnings"]
    assert sum(len(m.encode()) for m in kept) < 256 * 1024  # was 1.2 MB: past Firestore's document limit
    assert body["errors"][-1].startswith("49 ") and body["warnings"][-1].startswith("49 ")  # the latest kept
