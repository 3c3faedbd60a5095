"""The chaos test build: the production services wrapped with injected faults.

Started with `python -m functions.local --services tests.chaos_build:services`. Nothing here is a
branch in production code: the wrappers sit around the real store and queue.

- ChaosQueue: optionally drops tasks (only the reconciler can rescue those); every task is enqueued
  twice (the copy under another name, so de-duplication cannot
  hide it), and both copies get a random extra delay, so deliveries come late and out of order.
- ChaosStore: while a step task runs, a store write can "crash" the process: the write does not
  happen, and every later store or queue call of that request fails too (a dead instance writes
  nothing more, not even a lease release). The queue sees a 500 and delivers the task again.
"""

from __future__ import annotations

import json
import os
import random
import threading
from collections import Counter
from dataclasses import replace
from pathlib import Path

from shared.platform.settings import Settings
from shared.queue import Task
from shared.services import Services, build

_state = threading.local()
STATS: Counter[str] = Counter()
_stats_lock = threading.Lock()


class Crash(BaseException):
    """A simulated process death: not an Exception, so no handler in the product catches it."""


def _count(key: str) -> None:
    with _stats_lock:
        STATS[key] += 1


def _check_alive() -> None:
    if getattr(_state, "dead", False):
        raise Crash("this request's instance already died")


class ChaosStore:
    def __init__(self, inner, crash_rate: float, rng: random.Random):
        self._inner, self._rate, self._rng = inner, crash_rate, rng

    def __getattr__(self, name):
        attr = getattr(self._inner, name)
        if name not in ("update", "create", "add", "delete", "increment", "get", "query"):
            return attr

        def call(*args, **kwargs):
            _check_alive()
            writing = name in ("update", "increment")
            if writing and getattr(_state, "in_task", False) and self._rng.random() < self._rate:
                _state.dead = True
                _count("crashes_injected")
                raise Crash(f"crashed before {name}")
            return attr(*args, **kwargs)

        return call


class ChaosQueue:
    def __init__(self, inner, max_late: float, rng: random.Random, duplicate: bool = True, drop_rate: float = 0.0):
        self._inner, self._late, self._rng = inner, max_late, rng
        self._duplicate, self._drop = duplicate, drop_rate

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def _late_delay(self, task: Task) -> float:
        return task.delay_seconds + self._rng.random() * self._late

    def enqueue(self, task: Task) -> bool:
        _check_alive()
        if task.target != "step":
            return self._inner.enqueue(task)
        if self._rng.random() < self._drop:
            _count("tasks_dropped")
            return True  # the queue said yes, then lost it
        first = self._inner.enqueue(replace(task, delay_seconds=self._late_delay(task)))
        if first and self._duplicate:
            dup = replace(task, name=f"{task.name}#dup", delay_seconds=self._late_delay(task))
            if self._inner.enqueue(dup):
                _count("duplicates_enqueued")
        return first


def services(settings: Settings) -> Services:
    seed = int(os.environ.get("CHAOS_SEED", "1"))
    rng = random.Random(seed)
    svc = build(settings)
    svc.store = ChaosStore(svc.store, float(os.environ.get("CHAOS_CRASH_RATE", "0.05")), rng)  # type: ignore[assignment]
    late = float(os.environ.get("CHAOS_MAX_LATE_SECONDS", "0.3"))
    duplicate = os.environ.get("CHAOS_DUPLICATE", "1") == "1"
    drop = float(os.environ.get("CHAOS_DROP_RATE", "0"))
    svc.queue = ChaosQueue(svc.queue, late, rng, duplicate, drop)  # type: ignore[assignment]
    return svc


def wrap(app, settings: Settings):
    """WSGI middleware: step requests may crash; a crash answers 500; counters go to DATA_DIR."""
    stats_file = Path(settings.data_dir) / "chaos-stats.json"

    def middleware(environ, start_response):
        in_task = environ.get("PATH_INFO") == "/internal/steps"
        _state.in_task, _state.dead = in_task, False
        try:
            return app(environ, start_response)
        except Crash:
            start_response("500 Internal Server Error", [("Content-Type", "application/json")])
            return [b'{"error":"crashed"}']
        finally:
            _state.in_task, _state.dead = False, False
            if in_task:
                with _stats_lock:
                    tmp = stats_file.with_suffix(".tmp")
                    tmp.write_text(json.dumps(STATS))
                    tmp.replace(stats_file)  # atomic: the test may read it at any moment

    return middleware
