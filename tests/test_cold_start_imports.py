"""Cold start: the `health` and `get_deployment` functions serve their first request without importing
Google clients, huggingface_hub, cryptography or standardwebhooks (local backend), and only their own handlers;
building the services loads no HTTP client, no pydantic-settings and opens no task queue database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

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

# Imported by every authenticated function / by a create: neither may bring in an HTTP client.
SERVICES = "from shared.services import services; services()"
URL_CHECK = (
    "from shared.platform import url_form; from shared.webhooks import ssrf_guard; "
    "ssrf_guard.check_url(url_form.ascii_url('https://a.example/h'), False)"
)
MODULES_AFTER = """
import json, sys
exec(sys.argv[1])
print(json.dumps(sorted(sys.modules)))
"""


def local_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNPOD_", "HF_", "API_KEYS", "ORCHESTRATOR"))}
    return env | {"DATA_DIR": str(data_dir), "API_KEYS": API_KEY, "ORCHESTRATOR_BACKEND": "local"}


def probe(script: str, *args: str, data_dir: Path) -> Any:
    """What `script` prints last (JSON), run in a fresh interpreter on the embedded backend."""
    out = subprocess.run(
        [sys.executable, "-c", script, *args],
        cwd=ROOT,
        env=local_env(data_dir),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def first_request(target: str, path: str, data_dir: Path) -> dict[str, Any]:
    return probe(PROBE, target, path, API_KEY, data_dir=data_dir)


@pytest.mark.parametrize(
    ("target", "path", "status", "foreign"),
    [
        ("health", "/health", 200, ("functions.deployments", "functions.security", "pydantic")),
        (
            "get_deployment",
            "/v1/deployments/dep_2026_cold",
            404,
            ("functions.admin", "functions.inference", "httpx", "httpcore"),
        ),
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
    modules = probe(MODULES_AFTER, SERVICES, data_dir=tmp_path)
    loaded = [m for m in modules if m.startswith(("httpx", "httpcore", *HEAVY, *NEVER))]
    assert loaded == [], loaded
    assert "shared.store.sqlite" in modules, "the probe built the embedded backend"
    # The queue's database file exists (private, 0600) but stays empty until the first enqueue.
    assert (tmp_path / "queue.db").stat().st_size == 0


def test_checking_a_webhook_url_loads_no_http_client(tmp_path) -> None:
    """create_deployment checks the URL; only a delivery connects (shared.webhooks.guarded_transport)."""
    modules = probe(MODULES_AFTER, URL_CHECK, data_dir=tmp_path)
    assert "shared.webhooks.ssrf_guard" in modules
    loaded = [m for m in modules if m.startswith(("httpx", "httpcore", "idna", "shared.webhooks.guarded_transport"))]
    assert loaded == [], loaded
