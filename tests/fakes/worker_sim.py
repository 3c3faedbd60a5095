"""WorkerSim: plays the inference container on every endpoint the fake Runpod creates.

Hook it into `FakeRunpod.on_create`: for each new endpoint (also one whose create answer the fake
then loses) it reads ORCHESTRATOR_CALLBACK_URL and ORCHESTRATOR_CALLBACK_SECRET from the endpoint's
env and reports through the real callback, with the real per-deployment secret, as the worker does:
`downloading_model` with progress, `loading_model`, then `ready`. Meanwhile the fake's health shows
the worker `initializing`; once it reported ready, `idle` (what Runpod shows when the handler runs).

`crashes(endpoint)`, when given and true for an endpoint, plays a container that crash-loops there:
it reports `downloading_model`, then `failed`, and the fake's health shows the worker `unhealthy`.

`background=False` reports before the fake answers the create (a deterministic race: everything is
reported while the create step is still waiting for, or retrying, its create).
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.fakes.runpod import FakeRunpod

SECRET_HEADER = "X-Visgate-Internal-Secret"
FULL_SCRIPT: tuple[dict[str, Any], ...] = (
    {"status": "downloading_model", "progress": 0, "message": "downloading"},
    {"status": "downloading_model", "progress": 50, "message": "downloading"},
    {"status": "downloading_model", "progress": 100, "message": "downloaded"},
    {"status": "loading_model", "message": "loading"},
    {"status": "ready", "message": "serving"},
)
CRASH_SCRIPT: tuple[dict[str, Any], ...] = (
    {"status": "downloading_model", "progress": 0, "message": "downloading"},
    {"status": "failed", "message": "CUDA error: the container crashed"},
)


@dataclass
class WorkerSim:
    runpod: FakeRunpod
    script: tuple[dict[str, Any], ...] = FULL_SCRIPT
    background: bool = True
    max_pause: float = 0.2  # random pause before each report (background only)
    seed: int = 0
    timeout: float = 5.0
    crashes: Callable[[dict[str, Any]], bool] | None = None
    replies: list[tuple[str, str, int]] = field(default_factory=list)  # (endpoint id, status reported, HTTP)
    counts: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _threads: list[threading.Thread] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def attach(self) -> WorkerSim:
        self.runpod.on_create.append(self)
        return self

    def __call__(self, endpoint: dict[str, Any]) -> None:
        env = endpoint.get("env") or {}
        if "ORCHESTRATOR_CALLBACK_URL" not in env:
            return
        self.runpod.set_worker_state("initializing", endpoint["id"])
        with self._lock:
            self.counts["workers_started"] += 1
            pauses = [self._rng.random() * self.max_pause for _ in self.script] if self.background else []
        if not self.background:
            self._run(endpoint, [])
            return
        thread = threading.Thread(target=self._run, args=(endpoint, pauses), daemon=True)
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def join(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        for thread in list(self._threads):
            thread.join(max(0.0, deadline - time.monotonic()))

    def _run(self, endpoint: dict[str, Any], pauses: list[float]) -> None:
        env = endpoint["env"]
        url, secret = env["ORCHESTRATOR_CALLBACK_URL"], env["ORCHESTRATOR_CALLBACK_SECRET"]
        script = CRASH_SCRIPT if self.crashes is not None and self.crashes(endpoint) else self.script
        with httpx.Client(timeout=self.timeout) as client:
            for n, report in enumerate(script):
                if pauses:
                    time.sleep(pauses[min(n, len(pauses) - 1)])
                if report["status"] == "ready":
                    self.runpod.set_worker_state("idle", endpoint["id"])
                if report["status"] == "failed":
                    self.runpod.set_worker_state("unhealthy", endpoint["id"])
                code = self._post(client, url, secret, report)
                with self._lock:
                    self.replies.append((endpoint["id"], report["status"], code))
                    self.counts[f"reported_{report['status']}"] += 1
                if code in (404, 409) or (code == 200 and report["status"] in ("ready", "failed")):
                    return

    def _post(self, client: httpx.Client, url: str, secret: str, report: dict[str, Any]) -> int:
        """Like the container: a few tries on connection errors and 5xx (the server may be contended)."""
        code = 0
        for _ in range(5):
            try:
                code = client.post(url, json=report, headers={SECRET_HEADER: secret}).status_code
            except httpx.HTTPError:
                code = 0
            if 0 < code < 500:
                return code
            time.sleep(0.2)
        return code
