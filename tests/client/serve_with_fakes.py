"""Run the real server on the fakes, with a simulated worker, to try the CLI by hand:

    .venv/bin/python -m tests.client.serve_with_fakes      # prints DORCH_URL and DORCH_API_KEY; Ctrl-C stops

Deployments then go through every phase (download progress, loading, ready) in a few seconds.
"""

from __future__ import annotations

import signal
import tempfile
import time
from pathlib import Path

from tests.conftest import launch
from tests.e2e_support import running_fakes
from tests.fakes.worker_sim import FULL_SCRIPT, WorkerSim

# A slower worker than the tests' so the progress display has something to show.
SCRIPT = (
    *({"status": "downloading_model", "progress": p, "message": f"downloading {p}%"} for p in (0, 25, 50, 75, 100)),
    *FULL_SCRIPT[3:],
)


def _stop(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def main() -> None:
    signal.signal(signal.SIGTERM, _stop)  # a stop from `kill` also stops the server it started
    signal.signal(signal.SIGINT, _stop)  # also when started in the background, where SIGINT is ignored
    with tempfile.TemporaryDirectory() as tmp, running_fakes() as fakes:
        WorkerSim(fakes.runpod, script=SCRIPT, max_pause=1.5).attach()
        server = launch(Path(tmp) / "data", fakes.env())
        try:
            print(f"export DORCH_URL={server.base_url} DORCH_API_KEY={server.api_key}", flush=True)
            print(f"# webhook receiver: {fakes.hook_url}", flush=True)
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
        finally:
            server.stop()


if __name__ == "__main__":
    main()
