"""Shared fixtures: the real server in a subprocess, pointed at real local fakes."""

from __future__ import annotations

import itertools
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.e2e_support import TEST_INSTALL_ID

ROOT = Path(__file__).resolve().parent.parent
API_KEY = "test-api-key-12345"
ADMIN_TOKEN = "test-admin-token-0123456789-abcdefghij"  # ADMIN_TOKEN needs 32+ characters

# Fast pacing for tests; production defaults are in shared/platform/settings.py.
FAST_ENV = {
    "READY_POLL_INTERVAL_SECONDS": "0.2",
    "RETRY_BASE_SECONDS": "0.1",
    "RETRY_MAX_SECONDS": "1",
    "WEBHOOK_RETRY_SCHEDULE": "0.2,0.3,0.4",
    "QUEUE_MIN_BACKOFF_SECONDS": "0.1",
    "QUEUE_MAX_BACKOFF_SECONDS": "1",
    "HTTP_TIMEOUT_SECONDS": "2",
    "WEBHOOK_TIMEOUT_SECONDS": "2",
    "STEP_LEASE_SECONDS": "10",
    "RATE_LIMIT_PER_MINUTE": "100000",  # tests poll fast; the limit has its own test
    "ADMIN_TOKEN": ADMIN_TOKEN,
    "INSTALL_ID": TEST_INSTALL_ID,
}


PORT_BAND = int(os.environ.get("TEST_PORT_BAND", "2000"))  # TEST_PORT_BASE/BAND: separate concurrent sessions
_next_port = itertools.count()


def free_port() -> int:
    """A free port for a server a test starts, below the kernel's ephemeral range (where the fakes' port-0
    binds land) and in a band of its own per xdist worker: between this check and the server's bind, no
    other test process can take it, so no request ever reaches another test's server."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    band = int(worker[2:]) + 1 if worker.startswith("gw") and worker[2:].isdigit() else 0
    base = int(os.environ.get("TEST_PORT_BASE", "10000")) + band * PORT_BAND
    for _ in range(PORT_BAND):
        port = base + next(_next_port) % PORT_BAND
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {base}-{base + PORT_BAND - 1}")


@dataclass
class Server:
    base_url: str
    data_dir: Path
    process: subprocess.Popen
    log_path: Path
    api_key: str = API_KEY
    client: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.client = httpx.Client(base_url=self.base_url, timeout=10.0)

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    def get(self, path: str, **kw) -> httpx.Response:
        return self.client.get(path, headers={**self.auth, **kw.pop("headers", {})}, **kw)

    def post(self, path: str, **kw) -> httpx.Response:
        return self.client.post(path, headers={**self.auth, **kw.pop("headers", {})}, **kw)

    def delete(self, path: str, **kw) -> httpx.Response:
        return self.client.delete(path, headers={**self.auth, **kw.pop("headers", {})}, **kw)

    def deployment(self, dep_id: str) -> dict:
        resp = self.get(f"/v1/deployments/{dep_id}")
        assert resp.status_code == 200, resp.text
        return resp.json()

    def wait_status(self, dep_id: str, statuses: set[str] | str, timeout: float = 40.0) -> dict:
        wanted = {statuses} if isinstance(statuses, str) else statuses
        deadline = time.monotonic() + timeout
        body: dict = {}
        while time.monotonic() < deadline:
            body = self.deployment(dep_id)
            if body["status"] in wanted:
                return body
            time.sleep(0.05)
        raise AssertionError(f"{dep_id} never reached {wanted}; last: {body}\n--- server log ---\n{self.log()}")

    def admin(self, method: str, path: str, **kw) -> httpx.Response:
        return self.client.request(method, path, headers={"X-Admin-Token": ADMIN_TOKEN}, **kw)

    def new_tenant_key(self, name: str = "Acme") -> str:
        """A fresh tenant with one API key (through the admin API); returns the key."""
        tenant = self.admin("POST", "/admin/tenants", json={"name": name, "email": f"{name.lower()}@example.com"})
        assert tenant.status_code == 201, tenant.text
        key = self.admin("POST", f"/admin/tenants/{tenant.json()['id']}/api-keys", json={"name": "k"})
        assert key.status_code == 201, key.text
        return key.json()["key"]

    def as_key(self, key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"}

    def log(self) -> str:
        return self.log_path.read_text()[-6000:] if self.log_path.exists() else ""

    def stop(self) -> None:
        self.client.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()


def launch(data_dir: Path, env: dict[str, str], args: list[str] | None = None, port: int | None = None) -> Server:
    """`port`: a given one (e.g. a restarted server's old address) instead of a free one."""
    port = port or free_port()
    full_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("RUNPOD_", "HF_", "API_KEYS"))},
        "PORT": str(port),
        "DATA_DIR": str(data_dir),
        "API_KEYS": API_KEY,
        **FAST_ENV,
        **env,
    }
    log_path = data_dir.parent / f"server-{port}.log"
    data_dir.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "functions.local", *(args or [])],
            cwd=ROOT,
            env=full_env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = Server(f"http://127.0.0.1:{port}", data_dir, proc, log_path)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{server.log()}")
        try:
            if httpx.get(f"{server.base_url}/health", timeout=0.5).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.05)
    server.stop()
    raise RuntimeError(f"server did not start:\n{server.log()}")


@pytest.fixture
def fakes():
    """Fake Runpod, Hub and webhook receiver; the product must not send Runpod a request off its spec."""
    from tests.e2e_support import running_fakes

    with running_fakes() as f:
        yield f
        assert f.runpod.violations == [], f.runpod.violations


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """start_server(env={...}, args=[...]) launches `python -m functions.local`; all stop at teardown."""
    started: list[Server] = []

    def start(env: dict[str, str] | None = None, args: list[str] | None = None, data_dir: Path | None = None):
        server = launch(data_dir or tmp_path / f"data{len(started)}", env or {}, args)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
