"""Counters and timings this process keeps for GET /metrics (upstream calls, step durations and failures,
task retries), in plain dicts: counting costs no import, and prometheus_client is loaded by the /metrics
handler alone (functions/metrics.py), off every other path.

They are per process: on Cloud Functions each instance has its own, and they start at zero with it
(Prometheus' rate() handles the resets; a sum over instances needs every instance scraped, which a
scrape through the gateway does not do). What the store knows (deployments by status, webhook deliveries,
failed deployments) is counted from the store at scrape time instead: that is the same on every instance.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

Labels = tuple[tuple[str, str], ...]
BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)


@dataclass
class Timing:
    counts: list[int] = field(default_factory=lambda: [0] * len(BUCKETS))  # per bucket, not cumulative
    total: int = 0
    sum: float = 0.0


_lock = threading.Lock()
_counters: dict[str, dict[Labels, float]] = {}
_timings: dict[str, dict[Labels, Timing]] = {}


def _labels(labels: dict[str, str]) -> Labels:
    return tuple(sorted((k, str(v)) for k, v in labels.items()))


def count(name: str, by: float = 1.0, **labels: str) -> None:
    key = _labels(labels)
    with _lock:
        series = _counters.setdefault(name, {})
        series[key] = series.get(key, 0.0) + by


def observe(name: str, seconds: float, **labels: str) -> None:
    key = _labels(labels)
    with _lock:
        timing = _timings.setdefault(name, {}).setdefault(key, Timing())
        timing.total += 1
        timing.sum += seconds
        for i, bound in enumerate(BUCKETS):
            if seconds <= bound:
                timing.counts[i] += 1
                break


def counters() -> dict[str, dict[Labels, float]]:
    with _lock:
        return {name: dict(series) for name, series in _counters.items()}


def timings() -> dict[str, dict[Labels, Timing]]:
    with _lock:
        return {
            name: {k: Timing(list(t.counts), t.total, t.sum) for k, t in series.items()}
            for name, series in _timings.items()
        }
