"""One real server for the client tests, on the real fakes, with a simulated worker on every endpoint it
creates (so deployments report download progress, loading and ready through the real callback)."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from dorch import Client

from tests.client.proxy import FaultyProxy
from tests.conftest import Server, launch
from tests.e2e_support import Fakes, running_fakes
from tests.fakes.worker_sim import WorkerSim

# The SDK follows deployments over SSE: leave room for a few streams a test cut and the server has not noticed.
SERVER_ENV = {"LONG_REQUESTS_PER_TENANT": "8", "UPDATE_DRAIN_SECONDS": "1"}
DORCH = shutil.which("dorch", path=str(Path(sys.executable).parent))


@pytest.fixture(scope="package")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Fakes]]:
    with running_fakes() as fakes:
        WorkerSim(fakes.runpod, max_pause=0.1).attach()
        server = launch(tmp_path_factory.mktemp("client") / "data", {**fakes.env(), **SERVER_ENV})
        try:
            yield server, fakes
        finally:
            server.stop()
        assert fakes.runpod.violations == [], fakes.runpod.violations


@pytest.fixture
def server(stack: tuple[Server, Fakes]) -> Server:
    return stack[0]


@pytest.fixture
def fakes(stack: tuple[Server, Fakes]) -> Fakes:
    return stack[1]


@pytest.fixture
def client(server: Server) -> Iterator[Client]:
    with Client(server.base_url, server.api_key, timeout=10) as c:
        yield c


@pytest.fixture
def proxy(server: Server) -> Iterator[FaultyProxy]:
    p = FaultyProxy(server.base_url)
    yield p
    p.close()


@pytest.fixture
def cli_env(server: Server) -> dict[str, str]:
    """The environment a `dorch` process needs to reach the test server (and nothing of the caller's)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DORCH_", "RUNPOD_", "HF_"))}
    return {**env, "DORCH_URL": server.base_url, "DORCH_API_KEY": server.api_key}
