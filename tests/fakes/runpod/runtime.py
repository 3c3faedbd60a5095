"""The fake's serverless runtime API (`/v2/{endpoint}/run|runsync|status|stream|cancel|health|purge-queue`).

Not in the OpenAPI document, so checked by hand. Jobs finish on the next poll unless workers cannot
run; `attach_worker` forwards an endpoint's run/runsync/status to a real worker's local API instead.
"""

from __future__ import annotations

import re
import uuid
from collections import Counter
from typing import Any
from urllib.parse import unquote

import httpx

from tests.fakes.base import Response
from tests.fakes.runpod.state import RunpodState, json_type, problem

RUNTIME_PATH = re.compile(
    r"^/v2/(?P<endpoint>[^/]+)/(?P<op>run|runsync|health|purge-queue|status|cancel|retry|stream)(?:/(?P<job>[^/]+))?$"
)
RUNTIME_METHODS = {
    "run": "POST",
    "runsync": "POST",
    "health": "GET",
    "purge-queue": "POST",
    "status": "GET",
    "cancel": "POST",
    "retry": "POST",
    "stream": "GET",
}
JOB_OPS = {"status", "cancel", "retry", "stream"}
FORWARDED_OPS = {"run": "run", "runsync": "runsync", "status": "status"}  # runtime op -> the SDK's local route


class RuntimeApi(RunpodState):
    def attach_worker(self, endpoint_id: str, base_url: str) -> None:
        """Forward run/runsync/status of `endpoint_id` to a worker's local API (`--rp_serve_api`)."""
        with self.lock:
            self.workers[endpoint_id] = base_url.rstrip("/")

    def set_job_outcome(self, endpoint_id: str, status: str = "FAILED", error: str = "handler failed") -> None:
        """Jobs of `endpoint_id` end `status` (FAILED or TIMED_OUT) with `error` instead of COMPLETED."""
        with self.lock:
            self.job_outcome[endpoint_id] = {"status": status, "error": error}

    def _check_runtime(self, method: str, path: str, runtime: re.Match[str], body: Any) -> Response | None:
        """Paths, methods and bodies as Runpod's runtime takes them; a refusal is also recorded in `violations`."""
        where = f"{method} {path}"
        op, job = runtime["op"], runtime["job"]
        if RUNTIME_METHODS[op] != method and not (op == "status" and method == "POST"):
            return self._violation(405, f"{where}: runtime {op} expects {RUNTIME_METHODS[op]}", [])
        if (op in JOB_OPS) != (job is not None):
            return self._violation(404, f"{where}: malformed runtime path", [])
        return self._input_refusal(where, op, body)

    def _input_refusal(self, where: str, op: str, body: Any) -> Response | None:
        if op in ("run", "runsync") and not (isinstance(body, dict) and isinstance(body.get("input"), dict)):
            return self._violation(400, f"{where}: body must be an object with an 'input' object", [])
        return None

    def _runtime(self, op: str, endpoint_id: str, job_id: str | None, body: Any) -> Response:
        if endpoint_id not in self.endpoints:
            return Response(404, {"error": f"endpoint {endpoint_id} not found"})
        job = self.jobs.get(job_id or "")
        if job_id is not None and (job is None or job["endpoint_id"] != endpoint_id):
            return Response(404, {"error": f"job {job_id} not found"})
        if op in ("run", "runsync"):
            self._wake(endpoint_id)
        cannot = ("initializing", "unhealthy", "throttled") + (("none",) if self.scale_up_seconds is not None else ())
        can_run = self.worker_state(endpoint_id) not in cannot
        if op == "health":
            return Response(200, self._health(endpoint_id))
        if op in ("run", "runsync"):
            job = {"id": f"{uuid.uuid4()}-u1", "endpoint_id": endpoint_id, "input": body["input"], "status": "IN_QUEUE"}
            if endpoint_id in self.job_outcome:
                job["outcome"] = dict(self.job_outcome[endpoint_id])
            if op == "runsync" and can_run:
                _finish(job)
            self.jobs[job["id"]] = job
            return Response(200, _job_view(job) if op == "runsync" else {"id": job["id"], "status": "IN_QUEUE"})
        if op == "status":
            assert job is not None
            view = _job_view(job)
            if job["status"] == "IN_QUEUE" and can_run:
                _finish(job)  # seen IN_QUEUE once, done on the next poll
            return Response(200, view)
        if op == "stream":
            assert job is not None
            if job["status"] == "IN_QUEUE" and can_run:
                _finish(job)
            return Response(200, _stream_view(job))
        if op == "cancel":
            assert job is not None
            if job["status"] in ("IN_QUEUE", "IN_PROGRESS"):
                job["status"] = "CANCELLED"
            return Response(200, {"id": job["id"], "status": job["status"]})
        if op == "purge-queue":
            queued = [j for j in self.jobs.values() if j["endpoint_id"] == endpoint_id and j["status"] == "IN_QUEUE"]
            for j in queued:
                j["status"] = "CANCELLED"
            return Response(200, {"removed": len(queued), "status": "completed"})
        return self._violation(501, f"runtime {op}: not simulated by FakeRunpod", [])

    def _health(self, endpoint_id: str) -> dict[str, Any]:
        statuses = Counter(j["status"] for j in self.jobs.values() if j["endpoint_id"] == endpoint_id)
        state = self.worker_state(endpoint_id)
        workers = {s: int(state == s) for s in ("idle", "initializing", "running", "throttled", "unhealthy")}
        workers["ready"] = int(state in ("idle", "running"))
        jobs = {
            "completed": statuses["COMPLETED"],
            "failed": statuses["FAILED"],
            "inProgress": statuses["IN_PROGRESS"],
            "inQueue": statuses["IN_QUEUE"],
            "retried": 0,
        }
        return {"jobs": jobs, "workers": dict(sorted(workers.items()))}

    # ---- a worker attached to an endpoint (the Runpod SDK's local API) ----

    def _forward_target(self, method: str, path: str) -> tuple[str, str, str | None] | None:
        match = RUNTIME_PATH.match(path)
        if match is None or match["op"] not in FORWARDED_OPS:
            return None
        with self.lock:
            worker = self.workers.get(unquote(match["endpoint"]))
        return (worker, FORWARDED_OPS[match["op"]], match["job"]) if worker else None

    def _forward(
        self,
        target: tuple[str, str, str | None],
        method: str,
        path: str,
        query: dict[str, str],
        headers: dict[str, str],
        body: Any,
    ) -> Response:
        worker, op, job = target
        with self.lock:
            fault = self._injected_fault(method, path, is_runtime=True)
            if fault is not None:
                return fault.response
            if headers.get("authorization", "").removeprefix("Bearer ") not in self.valid_keys:
                return problem(401, "missing or invalid bearer token")
        with self.lock:
            refusal = self._input_refusal(f"{method} {path}", op, body)
        if refusal is not None:
            return refusal
        url = f"{worker}/{op}" + (f"/{job}" if job else "")
        try:
            # The SDK's local API answers status on POST only; it runs a job when its status is asked.
            resp = httpx.post(url, json=body if op != "status" else None, timeout=120)
        except httpx.HTTPError as exc:
            return Response(502, {"error": f"attached worker unreachable: {type(exc).__name__}"})
        return self._with_rate_limit_headers(Response(resp.status_code, body=resp.content, headers=json_type()))


def _finish(job: dict[str, Any]) -> None:
    job["status"] = job.get("outcome", {}).get("status", "COMPLETED")


def _stream_view(job: dict[str, Any]) -> dict[str, Any]:
    """Runpod's stream answer: a finished job's output once, as two chunks, then an empty `stream`."""
    view: dict[str, Any] = {"id": job["id"], "status": job["status"], "stream": []}
    if job["status"] == "COMPLETED" and not job.get("streamed"):
        job["streamed"] = True
        view["stream"] = [{"output": {"part": 1, "echo": job["input"]}}, {"output": {"part": 2}}]
    elif job["status"] in ("FAILED", "TIMED_OUT") and "outcome" in job:
        view["error"] = job["outcome"]["error"]
    return view


def _job_view(job: dict[str, Any]) -> dict[str, Any]:
    view: dict[str, Any] = {"id": job["id"], "status": job["status"]}
    if job["status"] == "COMPLETED":
        view.update(output={"echo": job["input"]}, delayTime=1, executionTime=1)
    elif job["status"] in ("FAILED", "TIMED_OUT") and "outcome" in job:
        view.update(error=job["outcome"]["error"], delayTime=1, executionTime=1)
    return view
