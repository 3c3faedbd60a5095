"""The simulation is durable: a server killed while a sandbox deployment loads, started again on the
same data, still brings it to ready (its state is in the store, its worker's reports in the queue)."""

from __future__ import annotations

import signal

from tests.conftest import launch
from tests.e2e_support import wait_until
from tests.fakes.runpod import FakeRunpod
from tests.sandbox.support import sandbox_body, sandbox_env

# Slow enough to be killed mid-download; leased tasks of the killed server come due again soon.
SLOW = {"SANDBOX_TIME_SCALE": "4", "QUEUE_DISPATCH_DEADLINE_SECONDS": "3"}


def test_killed_mid_simulation_then_restarted_reaches_ready(tmp_path):
    data = tmp_path / "data"
    with FakeRunpod() as recorder:
        env = sandbox_env(recorder, **SLOW)
        first = launch(data, env)
        try:
            dep_id = first.post("/v1/deployments", json=sandbox_body()).json()["deployment_id"]
            wait_until(
                lambda: (
                    first.deployment(dep_id)["status"] == "downloading_model"
                    and first.deployment(dep_id)["progress"] is not None
                ),
                timeout=60,
                message="never downloading",
            )
            port = int(first.base_url.rsplit(":", 1)[1])
            first.process.send_signal(signal.SIGKILL)
            first.process.wait(10)
        finally:
            first.stop()
        # The same address: the simulated worker was given its callback URL when the endpoint was made.
        second = launch(data, env, port=port)
        try:
            dep = second.wait_status(dep_id, {"ready", "failed"}, timeout=90)
            assert dep["status"] == "ready", dep
            assert dep["sandbox"] is True
        finally:
            second.stop()
        assert recorder.requests == []
