"""Create → ready time with instant fakes (the orchestrator's own overhead), embedded default."""

from __future__ import annotations

import argparse
import time

from bench.common import report, start, wait_until
from tests.e2e_support import create_body, running_fakes


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--deployments", type=int, default=30)
    parser.add_argument("--poll", type=float, default=0.05, help="READY_POLL_INTERVAL_SECONDS")
    args = parser.parse_args()
    with running_fakes() as fakes:
        server = start({**fakes.env(), "READY_POLL_INTERVAL_SECONDS": str(args.poll)})
        try:
            to_ready, to_webhook = [], []
            for _ in range(args.deployments):
                t0 = time.perf_counter()
                dep_id = server.post("/v1/deployments", json=create_body(fakes)).json()["deployment_id"]
                wait_until(lambda d=dep_id: server.deployment(d)["status"] == "ready")
                to_ready.append(time.perf_counter() - t0)
                wait_until(
                    lambda d=dep_id: any(r.json and r.json.get("deployment_id") == d for r in fakes.webhooks.received)
                )
                to_webhook.append(time.perf_counter() - t0)
            print(f"sequential deployments={args.deployments}, health poll interval={args.poll}s, instant fakes")
            report("create -> ready (GET shows ready)", to_ready)
            report("create -> webhook received", to_webhook)
        finally:
            server.stop()


if __name__ == "__main__":
    main()
