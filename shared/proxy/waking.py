"""The proxy's calls that wait for a worker (shared/proxy/scale_up.py says how): runsync, whose own job
wakes the endpoint, and the OpenAI routes, which probe the runtime's health first.

`run` (async) never waits: Runpod queues the job and starts a worker for it, and the caller polls the
job. Job reads (status, stream, cancel) do not wait either: they need no worker.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from shared.clients.runpod import RunpodError
from shared.platform.errors import ApiError
from shared.proxy.jobs import job_view
from shared.proxy.scale_up import WAIT_FIRST_POLL, WAIT_MAX_POLL, WARM, Wait, ready_workers
from shared.proxy.upstream import connect, upstream_errors
from shared.schemas.stored import Deployment
from shared.services import Services

if TYPE_CHECKING:  # the runtime client brings httpx: only its type is needed here
    from shared.clients.runpod import RuntimeClient

FINISHED = frozenset({"COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT"})


def runsync(svc: Services, dep: Deployment, body: dict[str, Any], wait_ms: int, wait: Wait) -> dict[str, Any]:
    """Runpod's runsync; a job no worker took (the endpoint had none ready) waits for one, then for its
    result up to `wait_ms` more. A worker that does not come in time: the job is cancelled, 503."""
    with connect(svc, dep) as runtime, upstream_errors(dep):
        job = job_view(runtime.runsync(body, wait_ms), dep)
        if job.get("status") != "IN_QUEUE" or _has_ready_worker(runtime):
            return job  # done, running, or queued behind busy workers: not a cold start
        WARM.seen(False, wait.endpoint_id)
        try:
            view = wait.until_started(runtime, job["id"])
        except ApiError:
            _cancel_quietly(runtime, job["id"])  # the caller was told it did not run: it must not run later
            raise
        return job_view(_until_finished(runtime, job["id"], view, wait_ms / 1000), dep)


def before_openai(svc: Services, dep: Deployment, wait: Wait) -> None:
    """Return once the endpoint has a ready worker (or the probe itself fails: the call goes on as before)."""
    endpoint_id = wait.endpoint_id
    if WARM.is_warm(endpoint_id):
        return
    with connect(svc, dep) as runtime:
        try:
            health = runtime.health()
        except RunpodError:
            return
        if ready_workers(health) > 0:
            WARM.seen(True, endpoint_id)
            return
        with upstream_errors(dep):
            job_id = WARM.wake_job(runtime)
            if job_id:
                wait.until_started(runtime, job_id)


def _until_finished(runtime: RuntimeClient, job_id: str, view: Any, seconds: float) -> Any:
    """The job's view once finished, or its last one after `seconds` (runsync's own contract)."""
    deadline, pause = time.monotonic() + seconds, WAIT_FIRST_POLL
    while not (isinstance(view, dict) and view.get("status") in FINISHED):
        left = deadline - time.monotonic()
        if left <= 0 and view is not None:
            break
        time.sleep(max(0.0, min(pause, left)))
        pause = min(pause * 2, WAIT_MAX_POLL)
        view = runtime.status(job_id)
    return view


def _has_ready_worker(runtime: RuntimeClient) -> bool:
    """A health probe that never fails the call: an unanswered one counts as a worker (the answer as before)."""
    try:
        return ready_workers(runtime.health()) > 0
    except RunpodError:
        return True


def _cancel_quietly(runtime: RuntimeClient, job_id: str) -> None:
    try:
        runtime.cancel(job_id)
    except RunpodError:
        pass  # best effort: Runpod may already have handed it to a worker
