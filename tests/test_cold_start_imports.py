"""Cold start: the `health` and `get_deployment` functions serve their first request without importing
Google clients, huggingface_hub, cryptography or standardwebhooks (local backend), and only their own handlers;
building the services loads no HTTP client, no pydantic-settings and opens no task queue database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import API_KEY

ROOT = Path(__file__).resolve().parent.parent
# google.cloud.functions* is functions-framework's own (a bare hello-world loads it too).
HEAVY = ("huggingface_hub", "cryptography", "standardwebhooks", "grpc", "google.auth", "google.api_core",
         "google.cloud.firestore", "google.cloud.tasks", "google.oauth2")  # fmt: skip
# Never on a function's cold path: settings are a plain pydantic model; only the local server delivers tasks.
NEVER = ("pydantic_settings", "shared.queue.local_dispatcher")

PROBE = """
import json, sys
import functions_framework
app = functions_framework.create_app(target=sys.argv[1], source="main.py")
answer = app.test_client().get(sys.argv[2], headers={"Authorization": "Bearer " + sys.argv[3]})
print(json.dumps({"status": answer.status_code, "modules": sorted(sys.modules)}))
"""


SERVICES = """
import json, sys
from shared.services import services
services()
print(json.dumps({"status": 0, "modules": sorted(sys.modules)}))
"""


def local_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNPOD_", "HF_", "API_KEYS", "ORCHESTRATOR"))}
    return env | {"DATA_DIR": str(data_dir), "API_KEYS": API_KEY, "ORCHESTRATOR_BACKEND": "local"}


def first_request(target: str, path: str, data_dir: Path) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, target, path, API_KEY],
        cwd=ROOT,
        env=local_env(data_dir),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    ("target", "path", "status", "foreign"),
    [
        ("health", "/health", 200, ("functions.deployments", "functions.security", "pydantic")),
        ("get_deployment", "/v1/deployments/dep_2026_cold", 404, ("functions.admin", "functions.inference")),
    ],
)
def test_first_request_imports_nothing_heavy(tmp_path, target, path, status, foreign) -> None:
    # An install that has served before: its bootstrap tenant (and its webhook secret) exists already.
    first_request("get_deployment", "/v1/deployments/dep_2026_cold", tmp_path)
    got = first_request(target, path, tmp_path)
    assert got["status"] == status
    modules = got["modules"]
    heavy = [m for m in modules if m.startswith(HEAVY + NEVER)]
    assert heavy == [], heavy
    assert not [m for m in modules if m in foreign], "another function's handlers were imported"
    assert "functions.openapi" not in modules  # the spec is built only for /openapi.json


def test_building_services_loads_no_http_client_and_opens_no_queue(tmp_path) -> None:
    out = subprocess.run(
        [sys.executable, "-c", SERVICES], cwd=ROOT, env=local_env(tmp_path), capture_output=True, text=True, check=True
    )
    modules = json.loads(out.stdout.strip().splitlines()[-1])["modules"]
    loaded = [m for m in modules if m.startswith(("httpx", "httpcore", *HEAVY, *NEVER))]
    assert loaded == [], loaded
    assert "shared.store.sqlite" in modules, "the probe built the embedded backend"
    # The queue's database file exists (private, 0600) but stays empty until the first enqueue.
    assert (tmp_path / "queue.db").stat().st_size == 0
