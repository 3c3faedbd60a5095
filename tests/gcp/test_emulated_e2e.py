"""The core flow on the emulated production stack: ORCHESTRATOR_BACKEND=gcp, the Firestore store on
the official emulator, the Cloud Tasks queue on gcloud-tasks-emulator delivering steps back to the
server over HTTP, and local fakes of Runpod, the Hub and a webhook receiver (tests/fakes).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import API_KEY, FAST_ENV, Server
from tests.e2e_support import SDXL, Fakes, create_body, running_fakes
from tests.gcp import emulators

pytestmark = pytest.mark.emulator
ROOT = Path(__file__).resolve().parents[2]
SECRET_HEADER = "X-Visgate-Internal-Secret"


def gcp_env(port: int, firestore: emulators.FirestoreEmulator, tasks: emulators.TasksEmulator) -> dict[str, str]:
    base = f"http://127.0.0.1:{port}"
    return {
        "ORCHESTRATOR_BACKEND": "gcp",
        "GOOGLE_CLOUD_PROJECT": firestore.project,
        "REGION": emulators.REGION,
        "TASKS_QUEUE": emulators.QUEUE,
        "STEP_FUNCTION_URL": f"{base}/internal/steps",
        "TASKS_INVOKER_SA": f"tasks-invoker@{firestore.project}.iam.gserviceaccount.com",
        "PUBLIC_BASE_URL": base,
        "INTERNAL_SECRET": "emulated-internal-secret",
        "ENCRYPTION_KEYS": "e2e1:" + "A" * 43 + "=",
        "FIRESTORE_EMULATOR_HOST": firestore.host,
        "CLOUD_TASKS_EMULATOR_HOST": tasks.host,
        "ALLOW_PRIVATE_WEBHOOKS": "true",
        "PORT": str(port),
        "HOST": "127.0.0.1",
        "API_KEYS": API_KEY,
    }


def purge(tasks: emulators.TasksEmulator) -> None:
    """The emulator keeps retrying tasks forever: drop the last test's before and after."""
    from shared.queue.cloudtasks import _new_client

    _new_client(tasks.host).purge_queue(name=tasks.queue_path)


@pytest.fixture
def fakes() -> Iterator[Fakes]:
    with running_fakes() as f:
        yield f
        assert f.runpod.violations == [], f.runpod.violations


@pytest.fixture
def server(firestore_emulator, fakes, tmp_path) -> Iterator[Server]:
    tasks = emulators.tasks()
    purge(tasks)
    port = emulators.free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("RUNPOD_", "HF_", "API_KEYS"))},
        **FAST_ENV,
        **fakes.env(),
        **gcp_env(port, firestore_emulator, tasks),
        "DATA_DIR": str(tmp_path / "data"),
    }
    log_path = tmp_path / "server.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "functions.local"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    srv = Server(f"http://127.0.0.1:{port}", tmp_path / "data", proc, log_path)
    try:
        _wait_ready(srv)
        yield srv
    finally:
        srv.stop()
        purge(tasks)


def _wait_ready(srv: Server) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if srv.process.poll() is not None:
            raise AssertionError(f"server exited with {srv.process.returncode}:\n{srv.log()}")
        try:
            if httpx.get(f"{srv.base_url}/readiness", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"server did not get ready:\n{srv.log()}")


def test_deploy_to_ready_through_worker_callbacks_then_delete(server, fakes) -> None:
    fakes.runpod.set_worker_state("initializing")  # only the worker's callbacks say ready
    resp = server.post("/v1/deployments", json=create_body(fakes))
    assert resp.status_code == 202, resp.text
    dep_id = resp.json()["deployment_id"]

    body = server.wait_status(dep_id, "downloading_model", timeout=40)
    assert body["model_id"] == SDXL and body["gpu_allocated"] == "AMPERE_48"
    (created,) = [e for e in fakes.runpod.created if e["name"].endswith(dep_id)]
    assert created["env"]["ORCHESTRATOR_CALLBACK_URL"] == f"{server.base_url}/internal/deployment-ready/{dep_id}"
    secret = created["env"]["ORCHESTRATOR_CALLBACK_SECRET"]
    callback = f"/internal/deployment-ready/{dep_id}"
    assert server.client.post(callback, json={"status": "ready"}).status_code == 401
    r = server.client.post(callback, json={"status": "ready"}, headers={SECRET_HEADER: secret})
    assert r.status_code == 200 and r.json()["status"] == "ready", f"{r.text}\n{server.log()}"

    hook = fakes.webhooks.wait_for(lambda req: req.json and req.json.get("event") == "deployment.ready", timeout=30)
    assert hook.json["deployment_id"] == dep_id
    ready = server.deployment(dep_id)
    assert ready["status"] == "ready" and ready["error"] is None, ready
    assert "Selected GPU: AMPERE_48" in " | ".join(log["message"] for log in ready["logs"])

    assert server.delete(f"/v1/deployments/{dep_id}").status_code == 204
    server.wait_status(dep_id, "deleted", timeout=40)
    assert fakes.runpod.live_endpoints() == [], server.log()
    assert len(fakes.runpod.created) == 1, server.log()  # the emulator delivers duplicates; steps stay idempotent


def test_step_calls_need_the_queue_token_and_users_need_a_key(server) -> None:
    step = {"kind": "step", "deployment_id": "dep_x", "step": "validate", "seq": 1}
    assert server.client.post("/internal/steps", json=step).status_code == 401
    forged = {"Authorization": "Bearer emulator.0123"}
    assert server.client.post("/internal/steps", json=step, headers=forged).status_code == 401
    assert server.client.post("/v1/deployments", json={}).status_code == 401
    assert server.get("/v1/deployments/dep_missing").status_code == 404


def _all_documents(project: str) -> str:
    """Every document in the emulator's database, subcollections included, as one string."""
    from google.cloud import firestore

    client = firestore.Client(project=project)
    out: list[str] = []

    def walk(collections) -> None:
        for coll in collections:
            for snap in coll.stream():
                out.append(f"{snap.reference.path} {snap.to_dict()}")
                walk(snap.reference.collections())

    walk(client.collections())
    return "\n".join(out)


def test_no_secret_is_stored_in_plaintext_in_firestore(server, fakes, firestore_emulator) -> None:
    api_key = server.new_tenant_key("Emulated")
    auth = server.as_key(api_key)
    assert server.client.post("/v1/credentials", json={"api_key": "rpa_valid"}, headers=auth).status_code == 201
    secret = server.client.get("/v1/webhooks/secret", headers=auth).json()["secret"]
    body = create_body(fakes, user_runpod_key="rpa_test", user_hf_token="hf_good", hf_model_id="acme/gated-model")
    dep_id = server.client.post("/v1/deployments", json=body, headers=auth).json()["deployment_id"]
    deadline = time.monotonic() + 40
    while server.client.get(f"/v1/deployments/{dep_id}", headers=auth).json()["status"] != "ready":
        assert time.monotonic() < deadline, server.log()
        time.sleep(0.1)
    stored = _all_documents(firestore_emulator.project)
    assert dep_id in stored and "tenant_" in stored  # the walk did see the data
    for plaintext in (api_key, "rpa_valid", "rpa_test", "hf_good", secret):
        assert plaintext not in stored, f"{plaintext[:6]}... is stored in plaintext in Firestore"
