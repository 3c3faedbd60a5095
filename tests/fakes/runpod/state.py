"""The fake Runpod's one state (endpoints, jobs, workers, accounts, faults) and the test controls
over it; the management, runtime and vLLM handlers (sibling modules) all read and change it."""

from __future__ import annotations

import copy
import json
import random
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import Path
from typing import Any

from tests.fakes.base import FakeServer, Response, ScriptedFaults
from tests.fakes.runpod.faults import FAULT_KINDS, FaultPlan, Hold, InjectedFault, seconds_header

GPU_POOLS = Path(__file__).resolve().parents[3] / "shared" / "catalog" / "data" / "gpu_pools.json"
WORKER_STATES = ("idle", "running", "initializing", "unhealthy", "throttled", "none")

DEFAULT_GPUS: list[dict[str, Any]] = [
    {
        "id": "NVIDIA A40",
        "name": "A40",
        "pool": "AMPERE_48",
        "manufacturer": "NVIDIA",
        "memory": 48,
        "secure": True,
        "community": True,
        "price": {"secure": 0.4, "community": 0.35, "serverless": 1.22},
        "maxCount": {"secure": 8, "community": 8},
    },
    {
        "id": "NVIDIA GeForce RTX 4090",
        "name": "RTX 4090",
        "pool": "ADA_24",
        "manufacturer": "NVIDIA",
        "memory": 24,
        "secure": True,
        "community": True,
        "price": {"secure": 0.69, "community": 0.34, "serverless": 1.12},
        "maxCount": {"secure": 8, "community": 8},
    },
    {
        "id": "NVIDIA A100 80GB PCIe",
        "name": "A100 80GB",
        "pool": "AMPERE_80",
        "manufacturer": "NVIDIA",
        "memory": 80,
        "secure": True,
        "community": True,
        "price": {"secure": 1.64, "community": 1.19, "serverless": 2.74},
        "maxCount": {"secure": 8, "community": 4},
    },
    {
        "id": "NVIDIA H100 80GB HBM3",
        "name": "H100",
        "pool": "ADA_80_PRO",
        "manufacturer": "NVIDIA",
        "memory": 80,
        "secure": True,
        "community": False,
        "price": {"secure": 2.99, "community": 0.0, "serverless": 4.18},
        "maxCount": {"secure": 8, "community": 0},
    },
]


DATA_CENTERS = {"US-KS-2": "US Kansas 2", "EU-RO-1": "EU Romania 1"}
DEFAULT_CUDA_VERSIONS = ("12.4", "12.8")


def _other_pools() -> list[dict[str, Any]]:
    """One GPU type for every shipped pool the hand-written list above leaves out: Runpod's catalog lists them all."""
    listed = {g["pool"] for g in DEFAULT_GPUS}
    extra = []
    for pool in json.loads(GPU_POOLS.read_text())["pools"]:
        if pool["id"] in listed:
            continue
        price: dict[str, float] = {"secure": 0.0, "community": 0.0}
        if pool["price_per_gpu_hour"] is not None:
            price["serverless"] = pool["price_per_gpu_hour"]
        name = pool["gpus"][0]
        extra.append({
            "id": f"NVIDIA {name}", "name": name, "pool": pool["id"], "manufacturer": "NVIDIA",
            "memory": pool["vram_gb"], "secure": True, "community": True, "price": price,
            "maxCount": {"secure": pool["max_count"], "community": pool["max_count"]},
        })  # fmt: skip
    return extra


DEFAULT_GPUS += _other_pools()


def problem(
    status: int, detail: str, errors: list[str] | None = None, headers: dict[str, str] | None = None
) -> Response:
    body: dict[str, Any] = {"title": HTTPStatus(status).phrase, "status": status, "detail": detail}
    if errors:
        body["errors"] = errors
    return Response(status, body, headers={"Content-Type": "application/problem+json", **(headers or {})})


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def json_type() -> dict[str, str]:
    return {"Content-Type": "application/json"}


class RunpodState(FakeServer):
    """Everything the fake knows, under `self.lock`, and the controls a test steers it with."""

    def __init__(
        self,
        valid_keys: set[str] | None = None,
        *,
        ready_after_seconds: float = 0.0,
        max_workers_quota: int | None = None,
        faults: FaultPlan | None = None,
        runtime_faults: bool = True,
    ) -> None:
        super().__init__()
        self.valid_keys = set(valid_keys) if valid_keys is not None else {"rpa_test", "rpa_valid"}
        self.ready_after_seconds = ready_after_seconds
        self.max_workers_quota = max_workers_quota
        self.runtime_faults = runtime_faults
        self.gpus: list[dict[str, Any]] = copy.deepcopy(DEFAULT_GPUS)
        # The catalog's stock (include=AVAILABILITY&product=SERVERLESS): pool -> data center -> level, and
        # the CUDA versions every GPU type offers. Every pool is HIGH in both data centers until a test says.
        self.availability: dict[str, dict[str, str]] = {}
        self.cuda_versions: list[str] = list(DEFAULT_CUDA_VERSIONS)
        self.pool_cuda_versions: dict[str, list[str]] = {}  # per pool, instead of cuda_versions
        self._query: dict[str, str] = {}
        self.endpoints: dict[str, dict[str, Any]] = {}  # live endpoints, as the API shows them
        self.created: list[dict[str, Any]] = []  # snapshot of every endpoint ever created
        self.deleted: list[str] = []
        self.volumes: dict[str, dict[str, Any]] = {}  # live network volumes (with their account under "_account")
        self.volumes_created: list[dict[str, Any]] = []  # every network volume ever created
        self.volumes_deleted: list[str] = []
        self.jobs: dict[str, dict[str, Any]] = {}
        self.violations: list[str] = []
        self.fault_counts: Counter[str] = Counter()
        self.scripted = ScriptedFaults()
        self._warm_since: dict[str, float] = {}  # endpoint id -> when workers.min became >= 1
        # Scale from zero: None = jobs run on an endpoint without workers (the fake's shortcut); a number =
        # a job on such an endpoint wakes a worker, initializing that many seconds, and waits for it.
        self.scale_up_seconds: float | None = None
        self._woken: dict[str, float] = {}  # endpoint id -> initializing seconds of its woken worker
        self._warm_total: dict[str, float] = {}  # endpoint id -> seconds its worker was up before (worker_seconds)
        self._worker_state_all: str | None = None
        self._worker_state: dict[str, str] = {}
        self.faults = faults or FaultPlan()
        self.openai_chunk_delay = 0.05  # seconds before each streamed chunk
        self.openai_script: list[dict[str, Any]] = []  # consumed one per OpenAI request (openai_next)
        self.workers: dict[str, str] = {}  # endpoint id -> base URL of an attached local worker
        self.job_outcome: dict[str, dict[str, Any]] = {}  # endpoint id -> how its jobs end (set_job_outcome)
        # Called with each new endpoint (a copy), outside the lock, before the create is answered (or its
        # answer lost); a hook that must not hold the answer starts its own thread (tests/fakes/worker_sim.py).
        self.on_create: list[Callable[[dict[str, Any]], None]] = []
        self._holds: list[Hold] = []  # hold_next
        # Several Runpod accounts: key -> account name (keys not listed share the account ""). A key sees,
        # changes and deletes only its own account's endpoints; another account's are a 404, as at Runpod.
        self.accounts: dict[str, str] = {}
        self._endpoint_account: dict[str, str] = {}
        self._caller_account = ""

    # ---- test controls ----

    @property
    def faults(self) -> FaultPlan:
        return self._faults

    @faults.setter
    def faults(self, plan: FaultPlan) -> None:
        with self.lock:
            self._faults, self._rng = plan, random.Random(plan.seed)

    def fail_next(
        self,
        method: str,
        path_prefix: str,
        kind: str,
        count: int = 1,
        status: int = 503,
        retry_after: float | None = None,
    ) -> None:
        """Script `count` faults for requests matching method ("*" for any) and path prefix; they beat random ones.

        kind: "status" (answer `status`), "reset" (no answer, no work), "timeout" (sleep faults.timeout_seconds,
        no work, then 504), "lost_create" (do the work, then reset; works for any request, not only creates).
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"kind must be one of {FAULT_KINDS}")
        with self.lock:
            self.scripted.add(ScriptedFaults.Fault(method.upper(), path_prefix, kind, count, status, retry_after))

    def set_availability(self, pool: str, level: str, data_centers: dict[str, str] | None = None) -> None:
        """A pool's stock in the catalog: `level` (NONE, LOW, MEDIUM, HIGH) in every data center, or per data
        center with `data_centers` (a data center left out has none)."""
        with self.lock:
            self.availability[pool] = (
                dict(data_centers) if data_centers is not None else dict.fromkeys(DATA_CENTERS, level)
            )

    def set_worker_state(self, state: str, endpoint_id: str | None = None) -> None:
        """Force what workers look like: idle, running, initializing, unhealthy, throttled or none.

        endpoint_id None applies to every endpoint, also future ones; per-endpoint settings win. "auto" removes
        the setting and returns to the simulation (min >= 1: initializing, then idle after ready_after_seconds).
        """
        if state not in (*WORKER_STATES, "auto"):
            raise ValueError(f"state must be one of {WORKER_STATES} or 'auto'")
        with self.lock:
            if endpoint_id is None:
                self._worker_state_all = None if state == "auto" else state
            elif state == "auto":
                self._worker_state.pop(endpoint_id, None)
            else:
                self._worker_state[endpoint_id] = state

    def worker_state(self, endpoint_id: str) -> str:
        with self.lock:
            forced = self._worker_state.get(endpoint_id) or self._worker_state_all
            if forced:
                return forced
            since = self._warm_since.get(endpoint_id)
            if since is None:
                return "none"
            return self._started_state(endpoint_id, since)

    def _started_state(self, endpoint_id: str, since: float) -> str:
        """A started worker's state: initializing for ready_after_seconds (a woken worker: scale_up_seconds),
        then idle (capacity.py refines it)."""
        starting = self._woken.get(endpoint_id, self.ready_after_seconds)
        return "initializing" if time.monotonic() - since < starting else "idle"

    def _wake(self, endpoint_id: str) -> None:
        """Work arrived at an endpoint without workers: in scale-from-zero mode one starts (stays up after)."""
        if self.scale_up_seconds is not None and self.worker_state(endpoint_id) == "none":
            self._warm_since[endpoint_id] = time.monotonic()
            self._woken[endpoint_id] = self.scale_up_seconds

    def worker_seconds(self, endpoint_id: str) -> float:
        """Seconds the endpoint's one simulated worker has been up (initializing or idle: what Runpod bills),
        so far; forced worker states (set_worker_state) are not reflected."""
        with self.lock:
            since = self._warm_since.get(endpoint_id)
            return self._warm_total.get(endpoint_id, 0.0) + (time.monotonic() - since if since is not None else 0.0)

    def _cool(self, endpoint_id: str) -> None:
        """The worker stops (workers.min < 1, or the endpoint is deleted): add its time up to the total."""
        since = self._warm_since.pop(endpoint_id, None)
        self._woken.pop(endpoint_id, None)
        if since is not None:
            self._warm_total[endpoint_id] = self._warm_total.get(endpoint_id, 0.0) + time.monotonic() - since

    def live_endpoints(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.endpoints.values())

    def created_by_name(self, name: str) -> list[dict[str, Any]]:
        with self.lock:
            return [e for e in self.created if e["name"] == name]

    def endpoints_named(self, name: str) -> list[dict[str, Any]]:
        with self.lock:
            return [e for e in self.endpoints.values() if e["name"] == name]

    def hold_next(self, method: str, path_prefix: str, after: bool = False) -> Hold:
        """Hold the next request matching method ("*" for any) and path prefix until the test calls
        `hold.release()`: before its work is done, or with after=True once done (only the answer waits).
        `hold.arrived` is set when the request is being held. Other requests go on meanwhile."""
        hold = Hold(method.upper(), path_prefix, after)
        with self.lock:
            self._holds.append(hold)
        return hold

    def _take_hold(self, method: str, path: str) -> Hold | None:
        with self.lock:
            hold = next((h for h in self._holds if h.method in ("*", method) and path.startswith(h.prefix)), None)
            if hold is not None:
                self._holds.remove(hold)
            return hold

    # ---- shared by the handlers ----

    def _violation(
        self, status: int, message: str, errors: list[str], headers: dict[str, str] | None = None
    ) -> Response:
        self.violations.extend([f"{message}: {e}" for e in errors] or [message])
        return problem(status, message, errors, headers)

    def _injected_fault(self, method: str, path: str, is_runtime: bool) -> InjectedFault | None:
        plan = self._faults
        scripted = self.scripted.take(method, path)
        if scripted is not None:
            kind, status, retry_after = scripted.kind, scripted.status, scripted.retry_after
            if kind == "status" and status == 429 and retry_after is None:
                retry_after = plan.retry_after_seconds
        else:
            draw = self._rng.random()  # one draw per request keeps a seed's sequence stable
            if is_runtime and not self.runtime_faults:
                return None
            kind = ""
            for name, rate in plan.rates().items():
                if draw < rate:
                    kind = name
                    break
                draw -= rate
            if not kind or (kind == "lost_create" and (method, path) != ("POST", "/v2/serverless")):
                return None
            status = {"error_5xx": plan.error_status, "rate_limit_429": 429}.get(kind, 0)
            retry_after = plan.retry_after_seconds if kind == "rate_limit_429" else None
        self.fault_counts[kind] += 1
        if kind in ("reset", "lost_create"):
            return InjectedFault(kind, Response.connection_reset())
        if kind == "timeout":
            slow = problem(504, f"injected timeout after {plan.timeout_seconds}s")
            slow.delay = plan.timeout_seconds
            return InjectedFault(kind, slow)
        headers = {"Retry-After": seconds_header(retry_after)} if retry_after is not None else {}
        return InjectedFault(kind, problem(status, "injected fault", None, headers))

    def _with_rate_limit_headers(self, resp: Response) -> Response:
        remaining = 0 if resp.status == 429 else 999
        resp.headers.setdefault("RateLimit", f'"minute";r={remaining};t=60')
        resp.headers.setdefault("RateLimit-Policy", '"minute";q=1000;w=60')
        return resp

    def _visible(self, endpoint_id: str) -> bool:
        """The endpoint exists and belongs to the calling key's account."""
        return endpoint_id in self.endpoints and self._endpoint_account.get(endpoint_id, "") == self._caller_account
