"""Can long-lived requests starve the server? 16 open log streams (4 tenants x 4), then short requests.

Prints whether a 17th stream is admitted, and how /health and another tenant's GET answer while the
16 streams hold their threads: the answered share and p50/p99 with many concurrent clients.
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack

import httpx

from bench.common import percentile, start

UNREACHABLE = {"HF_ENDPOINT": "http://127.0.0.1:9", "RUNPOD_API_BASE": "http://127.0.0.1:9"}
BODY = {
    "hf_model_id": "stabilityai/sdxl-turbo",
    "user_runpod_key": "rpa_bench",
    "user_webhook_url": "https://example.com/h",
}


def _open_stream(stack: ExitStack, client: httpx.Client, key: str, dep: str) -> int:
    resp = stack.enter_context(
        client.stream("GET", f"/v1/deployments/{dep}/logs/stream", params={"follow": "true"},
                      headers={"Authorization": f"Bearer {key}"})
    )  # fmt: skip
    if resp.status_code == 200:
        chunks = resp.iter_raw()
        next(chunks)  # the server is inside the stream, holding a thread
        stack.callback(chunks.close)
    return resp.status_code


def _probe(url: str, headers: dict[str, str], total: int, concurrency: int, timeout: float) -> tuple[int, list[float]]:
    """`total` GETs from `concurrency` threads, each on a fresh connection; (answered 200, latencies)."""

    def one(_: int) -> float | None:
        t0 = time.perf_counter()
        try:
            ok = httpx.get(url, headers=headers, timeout=timeout).status_code == 200
        except httpx.HTTPError:
            return None
        return time.perf_counter() - t0 if ok else None

    with ThreadPoolExecutor(concurrency) as pool:
        results = list(pool.map(one, range(total)))
    answered = [r for r in results if r is not None]
    return len(answered), answered


def _line(name: str, total: int, answered: int, lat: list[float]) -> None:
    if not lat:
        print(f"{name}: answered {answered}/{total} (every request timed out)", flush=True)
        return
    ms = [x * 1000 for x in lat]
    print(
        f"{name}: answered {answered}/{total} p50={percentile(ms, 50):.1f}ms p99={percentile(ms, 99):.1f}ms", flush=True
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--streams-per-tenant", type=int, default=4)
    parser.add_argument("--tenants", type=int, default=4)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--timeout", type=float, default=5.0)
    args = parser.parse_args()
    server = start(UNREACHABLE)  # deployments stay in validating, so follow=true streams stay open
    try:
        keys = [server.api_key] + [server.new_tenant_key(f"T{i}") for i in range(args.tenants)]
        deps = [server.client.post("/v1/deployments", json=BODY, headers=server.as_key(k)).json()["deployment_id"]
                for k in keys]  # fmt: skip
        with ExitStack() as stack:
            client = httpx.Client(base_url=server.base_url, timeout=10.0)
            stack.callback(client.close)
            opened = sum(
                _open_stream(stack, client, keys[t], deps[t]) == 200
                for t in range(args.tenants)
                for _ in range(args.streams_per_tenant)
            )
            try:
                extra: int | str = _open_stream(stack, client, keys[-1], deps[-1])
            except httpx.HTTPError:
                extra = "no answer within 10 s"
            threads = _threads(server.process.pid)
            print(f"open streams: {opened}; one more from another tenant: {extra}; server threads: {threads}")
            total = args.requests
            answered, lat = _probe(f"{server.base_url}/health", {}, total, args.concurrency, args.timeout)
            _line(f"GET /health x{args.concurrency} clients", total, answered, lat)
            url = f"{server.base_url}/v1/deployments/{deps[-1]}"
            answered, lat = _probe(url, server.as_key(keys[-1]), total, args.concurrency, args.timeout)
            _line(f"GET /v1/deployments/{{id}} (another tenant) x{args.concurrency} clients", total, answered, lat)
    finally:
        server.stop()


def _threads(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/status") as fh:
            return next((line.split()[1] for line in fh if line.startswith("Threads:")), "?")
    except OSError:
        return "?"


if __name__ == "__main__":
    main()
