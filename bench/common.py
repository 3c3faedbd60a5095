"""Helpers for the benchmarks: start the real server, measure, print percentiles."""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from tests.conftest import Server, launch


def start(env: dict[str, str] | None = None) -> Server:
    data = Path(tempfile.mkdtemp(prefix="bench-")) / "data"
    return launch(data, {"RATE_LIMIT_PER_MINUTE": "100000000", **(env or {})})


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def report(name: str, seconds: list[float], wall: float | None = None) -> None:
    ms = [s * 1000 for s in seconds]
    line = (
        f"{name}: n={len(ms)} p50={percentile(ms, 50):.2f}ms p99={percentile(ms, 99):.2f}ms "
        f"mean={statistics.fmean(ms):.2f}ms max={max(ms):.2f}ms"
    )
    if wall:
        line += f" throughput={len(ms) / wall:.0f} req/s"
    print(line, flush=True)


def load(url: str, headers: dict[str, str], total: int, concurrency: int) -> tuple[list[float], float]:
    """`total` GETs from `concurrency` threads, each with its own keep-alive connection."""
    per_thread = total // concurrency

    def worker(_: int) -> list[float]:
        out = []
        with httpx.Client(headers=headers, timeout=10) as client:
            for _ in range(per_thread):
                t0 = time.perf_counter()
                resp = client.get(url)
                out.append(time.perf_counter() - t0)
                assert resp.status_code == 200, resp.text
        return out

    t0 = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        results = [x for chunk in pool.map(worker, range(concurrency)) for x in chunk]
    return results, time.perf_counter() - t0


def wait_until(predicate: Callable[[], bool], timeout: float = 30.0, step: float = 0.005) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(step)
    raise TimeoutError
