"""p50/p99 latency of GET /health and GET /v1/deployments/{id} under concurrent load (embedded default)."""

from __future__ import annotations

import argparse

from bench.common import load, report, start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    server = start({"HF_ENDPOINT": "http://127.0.0.1:9", "RUNPOD_API_BASE": "http://127.0.0.1:9"})
    try:
        body = {
            "hf_model_id": "stabilityai/sdxl-turbo",
            "user_runpod_key": "rpa_bench",
            "user_webhook_url": "https://example.com/hook",
        }
        dep_id = server.post("/v1/deployments", json=body).json()["deployment_id"]
        print(f"concurrency={args.concurrency} requests={args.requests} (server: waitress, 16 threads, SQLite WAL)")
        load(f"{server.base_url}/health", {}, 200, 4)  # warm up
        lat, wall = load(f"{server.base_url}/health", {}, args.requests, args.concurrency)
        report("GET /health", lat, wall)
        url = f"{server.base_url}/v1/deployments/{dep_id}"
        lat, wall = load(url, server.auth, args.requests, args.concurrency)
        report("GET /v1/deployments/{id}", lat, wall)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
