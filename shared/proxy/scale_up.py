"""Waiting for a worker while a scaled-to-zero (or waking) deployment starts one, instead of failing.

Hugging Face's convention: the caller says how long it will wait with `X-Scale-Up-Timeout` (seconds;
SCALE_UP_TIMEOUT_SECONDS when absent, at most SCALE_UP_TIMEOUT_MAX_SECONDS), the answer says how long
it waited in `X-Scale-Up-Wait`, and a worker that does not come in time is a 503 with code
`scale_up_timeout` and Retry-After.

Runpod starts a worker of a min-0 endpoint only for queued work, so a wait always has a job to watch:
runsync's own job (Runpod answers it IN_QUEUE when no worker took it within `wait`), or, for the OpenAI
routes, one harmless wake-up job per endpoint and process (worker-vllm's `/v1/models` as a job). The
wait polls that job's status and the runtime health with a doubling pause (WAIT_FIRST_POLL ..
WAIT_MAX_POLL), inside the caller's long-request slot (functions/longcalls.py).
"""

from __future__ import annotations

import math
import threading
import time
from typing import TYPE_CHECKING, Any

from shared.platform.errors import ServiceUnavailableError, ValidationError
from shared.platform.settings import Settings

if TYPE_CHECKING:  # the runtime client brings httpx: only its type is needed here
    from shared.clients.runpod import RuntimeClient

HEADER = "X-Scale-Up-Timeout"
WAITED_HEADER = "X-Scale-Up-Wait"
TIMEOUT_CODE = "scale_up_timeout"
WAIT_FIRST_POLL = 0.25
WAIT_MAX_POLL = 5.0
RETRY_AFTER_SECONDS = 10
WARM_TTL_SECONDS = 10.0  # a worker seen ready this recently: no health probe before the call
WAKE_JOB_TTL_SECONDS = 120.0  # callers arriving meanwhile watch the same wake-up job
WAKE_INPUT = {"openai_route": "/v1/models"}  # worker-vllm answers it as a job; cheap and harmless
READY_KEYS = ("idle", "ready", "running")
STARTED = frozenset({"IN_PROGRESS", "COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT"})


def timeout_seconds(raw: str | None, settings: Settings) -> float:
    """The caller's X-Scale-Up-Timeout, or the default; 422 for what is not 0..max seconds."""
    if raw is None or not raw.strip():
        return settings.scale_up_timeout_seconds
    limit = settings.scale_up_timeout_max_seconds
    try:
        value = float(raw.strip())
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0 or value > limit:
        raise ValidationError(
            f"{HEADER} must be a number of seconds from 0 to {limit:g}",
            {"header": HEADER, "maximum": limit},
        )
    return value


class Wait:
    """One call's wait: its deadline, and the seconds it has waited so far (for X-Scale-Up-Wait)."""

    def __init__(self, timeout: float, deployment_id: str, endpoint_id: str) -> None:
        self.timeout, self.deployment_id, self.endpoint_id = timeout, deployment_id, endpoint_id
        self.started = time.monotonic()
        self.waited = 0.0

    def header(self) -> dict[str, str]:
        return {WAITED_HEADER: f"{self.waited:.3f}"}

    def until_started(self, runtime: RuntimeClient, job_id: str) -> dict[str, Any] | None:
        """Poll until a worker took `job_id` (its last view) or one is ready (None); 503 at the deadline."""
        pause = WAIT_FIRST_POLL
        while True:
            view = runtime.status(job_id)
            started = isinstance(view, dict) and view.get("status") in STARTED
            if started or ready_workers(runtime.health()) > 0:
                self.waited = time.monotonic() - self.started
                WARM.seen(True, self.endpoint_id)
                return view if started else None
            left = self.timeout - (time.monotonic() - self.started)
            if left <= 0:
                self.waited = time.monotonic() - self.started
                raise self.timed_out()
            time.sleep(min(pause, left))
            pause = min(pause * 2, WAIT_MAX_POLL)

    def timed_out(self) -> ServiceUnavailableError:
        return ServiceUnavailableError(
            f"No worker of deployment {self.deployment_id} became ready within {self.timeout:g} s; "
            f"retry later or send a longer {HEADER}",
            {"code": TIMEOUT_CODE, "deployment_id": self.deployment_id, "timeout_seconds": self.timeout,
             "waited_seconds": round(self.waited, 3)},
            headers={"Retry-After": str(RETRY_AFTER_SECONDS), **self.header()},
        )  # fmt: skip


def ready_workers(health: Any) -> int:
    """Workers that can serve now, from a runtime health answer (every key optional)."""
    workers = health.get("workers") if isinstance(health, dict) else None
    if not isinstance(workers, dict):
        return 0
    return sum(n for k in READY_KEYS if isinstance(n := workers.get(k), int) and n > 0)


class WarmEndpoints:
    """Per process: endpoints seen with a ready worker lately (skip the probe), and the wake-up job
    of each endpoint being woken (shared by the callers that wait on it)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._warm: dict[str, float] = {}
        self._wake: dict[str, tuple[str, float]] = {}
        self._waking: dict[str, threading.Lock] = {}  # per endpoint: one submits, the others then share its job

    def seen(self, warm: bool, endpoint_id: str) -> None:
        if not endpoint_id:
            return
        with self._lock:
            if warm:
                self._warm[endpoint_id] = time.monotonic()
                self._wake.pop(endpoint_id, None)
            else:
                self._warm.pop(endpoint_id, None)

    def is_warm(self, endpoint_id: str) -> bool:
        with self._lock:
            since = self._warm.get(endpoint_id)
            return since is not None and time.monotonic() - since < WARM_TTL_SECONDS

    def wake_job(self, runtime: RuntimeClient) -> str:
        """The endpoint's pending wake-up job, queued now unless one was in the last WAKE_JOB_TTL_SECONDS."""
        endpoint_id = runtime.endpoint_id
        with self._lock:
            waking = self._waking.setdefault(endpoint_id, threading.Lock())
        with waking:  # held across the submit (this endpoint's callers only): they share one job
            with self._lock:
                pending = self._wake.get(endpoint_id)
            if pending is not None and time.monotonic() - pending[1] < WAKE_JOB_TTL_SECONDS:
                return pending[0]
            job = runtime.run({"input": dict(WAKE_INPUT)})
            job_id = str(job.get("id", "")) if isinstance(job, dict) else ""
            if job_id:
                with self._lock:
                    self._wake[endpoint_id] = (job_id, time.monotonic())
            return job_id


WARM = WarmEndpoints()
