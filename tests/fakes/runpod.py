"""FakeRunpod: Runpod's REST v2 management API and the serverless runtime API on one local server.

Give the product the same `base_url` as RUNPOD_API_BASE and RUNPOD_RUNTIME_BASE. Every management
request is checked against the vendored OpenAPI spec (`runpod-openapi-v2.json`, a copy of
/work/shared/reference/runpod-openapi-v2.json): unknown paths, wrong methods and request bodies that
fail the operation's JSON schema are answered 400/404/405 and appended to `fake.violations`, so a
test can end with `assert fake.violations == []`. The runtime API is not in that spec and is checked
by hand (paths, methods, an `input` object).

The runtime also plays Runpod's vLLM worker on `/v2/{id}/openai/v1/...` (chat/completions, completions,
models; `"stream": true` answers SSE, one chunk every `openai_chunk_delay` seconds; `openai_next`
scripts vLLM's errors, which come back with HTTP 200). `attach_worker(endpoint_id, url)` forwards that
endpoint's run/runsync/status to a real worker serving the Runpod SDK's local API (`--rp_serve_api`).
"""

from __future__ import annotations

import copy
import functools
import io
import json
import random
import re
import secrets
import string
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from tests.fakes.base import FakeServer, RecordedRequest, Response, ScriptedFaults

SPEC_PATH = Path(__file__).with_name("runpod-openapi-v2.json")
SPEC_URI = "urn:runpod:openapi-v2"
WORKER_STATES = ("idle", "running", "initializing", "unhealthy", "throttled", "none")
FAULT_KINDS = ("status", "reset", "timeout", "lost_create")
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
OPENAI_PATH = re.compile(r"^/v2/(?P<endpoint>[^/]+)/openai/v1/(?P<path>chat/completions|completions|models)$")
OPENAI_KINDS = ("error_200", "stream_error", "break")
FORWARDED_OPS = {"run": "run", "runsync": "runsync", "status": "status"}  # runtime op -> the SDK's local route

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


# ---- the spec ----


@functools.cache
def load_spec() -> dict[str, Any]:
    return json.loads(SPEC_PATH.read_text())


@functools.cache
def spec_validator(schema_name: str) -> Draft202012Validator:
    """A Draft 2020-12 validator for `#/components/schemas/<schema_name>`, `$ref`s resolved in the whole spec."""
    resource = Resource.from_contents(load_spec(), default_specification=DRAFT202012)
    registry: Registry[Any] = Registry().with_resource(SPEC_URI, resource)
    return Draft202012Validator({"$ref": f"{SPEC_URI}#/components/schemas/{schema_name}"}, registry=registry)


@dataclass(frozen=True)
class SpecRoute:
    template: str  # e.g. "/v2/serverless/{id}"
    pattern: re.Pattern[str]
    operations: dict[str, dict[str, Any]]  # "GET" -> operation object


@functools.cache
def spec_routes() -> list[SpecRoute]:
    routes = []
    for template, item in load_spec()["paths"].items():
        regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template))
        ops = {m.upper(): op for m, op in item.items() if m in ("get", "put", "post", "patch", "delete")}
        routes.append(SpecRoute(template, re.compile(f"^{regex}$"), ops))
    # Literal segments win over parameters: /v2/registries/delegations before /v2/registries/{id}.
    return sorted(routes, key=lambda r: (r.template.count("{"), -len(r.template)))


def request_schema_name(operation: dict[str, Any]) -> str | None:
    ref = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {}).get("$ref")
    return ref.rsplit("/", 1)[-1] if ref else None


# ---- faults ----


@dataclass
class FaultPlan:
    """Random faults, rates in [0, 1] (their sum at most 1); one seeded draw per request."""

    error_5xx: float = 0.0
    rate_limit_429: float = 0.0
    timeout: float = 0.0  # sleep `timeout_seconds` without doing the work, then answer 504
    reset: float = 0.0  # reset the connection without doing the work
    lost_create: float = 0.0  # POST /v2/serverless only: create the endpoint, then reset the connection
    seed: int = 0
    error_status: int = 503
    retry_after_seconds: float = 1
    timeout_seconds: float = 3.0

    def __post_init__(self) -> None:
        rates = self.rates()
        if any(not 0.0 <= r <= 1.0 for r in rates.values()) or sum(rates.values()) > 1.0:
            raise ValueError(f"fault rates must be in [0, 1] and sum to at most 1: {rates}")

    def rates(self) -> dict[str, float]:
        return {
            "error_5xx": self.error_5xx,
            "rate_limit_429": self.rate_limit_429,
            "timeout": self.timeout,
            "reset": self.reset,
            "lost_create": self.lost_create,
        }


def problem(
    status: int, detail: str, errors: list[str] | None = None, headers: dict[str, str] | None = None
) -> Response:
    body: dict[str, Any] = {"title": HTTPStatus(status).phrase, "status": status, "detail": detail}
    if errors:
        body["errors"] = errors
    return Response(status, body, headers={"Content-Type": "application/problem+json", **(headers or {})})


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _seconds_header(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


@dataclass
class Hold:
    """A request held by `FakeRunpod.hold_next` until `release()` (or `max_seconds`, so a test never hangs)."""

    method: str
    prefix: str
    after: bool
    max_seconds: float = 30.0
    arrived: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)

    def wait(self) -> None:
        self.arrived.set()
        self.released.wait(self.max_seconds)

    def release(self) -> None:
        self.released.set()


class FakeRunpod(FakeServer):
    """Runpod for tests. Inspect `endpoints`, `created`, `deleted`, `jobs`, `violations`, `fault_counts`, `requests`;
    steer with `faults`, `fail_next`, `hold_next`, `set_worker_state`, `max_workers_quota`, `ready_after_seconds`,
    `gpus`."""

    schema_error_status = 400  # the spec hints real schema failures may be 422; the brief asked for 400

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
        self.endpoints: dict[str, dict[str, Any]] = {}  # live endpoints, as the API shows them
        self.created: list[dict[str, Any]] = []  # snapshot of every endpoint ever created
        self.deleted: list[str] = []
        self.jobs: dict[str, dict[str, Any]] = {}
        self.violations: list[str] = []
        self.fault_counts: Counter[str] = Counter()
        self.scripted = ScriptedFaults()
        self._warm_since: dict[str, float] = {}  # endpoint id -> when workers.min became >= 1
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

    def openai_next(self, kind: str, count: int = 1, code: int = 400, message: str = "scripted error") -> None:
        """Script the next `count` OpenAI requests: "error_200" (vLLM's error object with HTTP 200),
        "stream_error" (an SSE stream whose first event is an error), "break" (two chunks, then a reset)."""
        if kind not in OPENAI_KINDS:
            raise ValueError(f"kind must be one of {OPENAI_KINDS}")
        with self.lock:
            self.openai_script += [{"kind": kind, "code": code, "message": message}] * count

    def attach_worker(self, endpoint_id: str, base_url: str) -> None:
        """Forward run/runsync/status of `endpoint_id` to a worker's local API (`--rp_serve_api`)."""
        with self.lock:
            self.workers[endpoint_id] = base_url.rstrip("/")

    def set_job_outcome(self, endpoint_id: str, status: str = "FAILED", error: str = "handler failed") -> None:
        """Jobs of `endpoint_id` end `status` (FAILED or TIMED_OUT) with `error` instead of COMPLETED."""
        with self.lock:
            self.job_outcome[endpoint_id] = {"status": status, "error": error}

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
            return "initializing" if time.monotonic() - since < self.ready_after_seconds else "idle"

    def live_endpoints(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.endpoints.values())

    def created_by_name(self, name: str) -> list[dict[str, Any]]:
        with self.lock:
            return [e for e in self.created if e["name"] == name]

    def endpoints_named(self, name: str) -> list[dict[str, Any]]:
        with self.lock:
            return [e for e in self.endpoints.values() if e["name"] == name]

    # ---- dispatch ----

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

    def handle(self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: Any) -> Response:
        hold = self._take_hold(method, path)  # waited on outside the lock: other requests go on
        if hold is not None and not hold.after:
            hold.wait()
        resp = self._handle_request(method, path, query, headers, body)
        if hold is not None and hold.after:
            hold.wait()
        return resp

    def _handle_request(
        self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: Any
    ) -> Response:
        forward = self._forward_target(method, path)
        if forward is not None:
            return self._forward(forward, method, path, query, headers, body)  # outside the lock: jobs take time
        if OPENAI_PATH.match(path):
            with self.lock:
                return self._with_rate_limit_headers(self._openai(method, path, headers, body))
        with self.lock:
            before = len(self.created)
            resp = self._with_rate_limit_headers(self._handle(method, path, headers, body))
            new = copy.deepcopy(self.created[before:])
        for endpoint in new:
            for hook in list(self.on_create):
                hook(endpoint)
        return resp

    def _handle(self, method: str, path: str, headers: dict[str, str], body: Any) -> Response:
        route = next((r for r in spec_routes() if r.pattern.match(path)), None)
        runtime = None if route else RUNTIME_PATH.match(path)
        refusal = self._check_request(method, path, body, route, runtime)
        fault = self._injected_fault(method, path, is_runtime=runtime is not None)
        if fault is not None and fault.kind != "lost_create":
            return fault.response
        key = headers.get("authorization", "").removeprefix("Bearer ")
        self._caller_account = self.accounts.get(key, "")
        if key not in self.valid_keys:
            resp = problem(401, "missing or invalid bearer token")
        elif refusal is not None:
            resp = refusal
        elif route is not None:
            match = route.pattern.match(path)
            assert match is not None
            resp = self._management(method, route.template, {k: unquote(v) for k, v in match.groupdict().items()}, body)
        else:
            assert runtime is not None
            resp = self._runtime(runtime["op"], unquote(runtime["endpoint"]), runtime["job"], body)
        return Response.connection_reset() if fault is not None else resp  # lost_create: done, answer lost

    def _check_request(
        self, method: str, path: str, body: Any, route: SpecRoute | None, runtime: re.Match[str] | None
    ) -> Response | None:
        """Spec check; a refusal is also recorded in `violations`."""
        where = f"{method} {path}"
        if route is None and runtime is None:
            return self._violation(404, f"{where}: no such path in Runpod's REST v2 or runtime API", [])
        if runtime is not None:
            op, job = runtime["op"], runtime["job"]
            if RUNTIME_METHODS[op] != method and not (op == "status" and method == "POST"):
                return self._violation(405, f"{where}: runtime {op} expects {RUNTIME_METHODS[op]}", [])
            if (op in JOB_OPS) != (job is not None):
                return self._violation(404, f"{where}: malformed runtime path", [])
            if op in ("run", "runsync") and not (isinstance(body, dict) and isinstance(body.get("input"), dict)):
                return self._violation(400, f"{where}: body must be an object with an 'input' object", [])
            return None
        assert route is not None
        operation = route.operations.get(method)
        if operation is None:
            allow = {"Allow": ", ".join(route.operations)}
            return self._violation(405, f"{method} {route.template}: method not in the spec", [], allow)
        schema = request_schema_name(operation)
        if schema is None:
            return None
        if body is None or isinstance(body, bytes):
            return self._violation(self.schema_error_status, f"{method} {route.template}: body must be JSON", [])
        errors = [
            f"{e.json_path}: {e.message}"
            for e in sorted(spec_validator(schema).iter_errors(body), key=lambda e: e.json_path)
        ]
        errors += _semantic_errors(body, creating=method == "POST")
        if errors:
            return self._violation(self.schema_error_status, f"{method} {route.template} violates {schema}", errors)
        return None

    def _violation(
        self, status: int, message: str, errors: list[str], headers: dict[str, str] | None = None
    ) -> Response:
        self.violations.extend([f"{message}: {e}" for e in errors] or [message])
        return problem(status, message, errors, headers)

    def _injected_fault(self, method: str, path: str, is_runtime: bool) -> _Fault | None:
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
            return _Fault(kind, Response.connection_reset())
        if kind == "timeout":
            slow = problem(504, f"injected timeout after {plan.timeout_seconds}s")
            slow.delay = plan.timeout_seconds
            return _Fault(kind, slow)
        headers = {"Retry-After": _seconds_header(retry_after)} if retry_after is not None else {}
        return _Fault(kind, problem(status, "injected fault", None, headers))

    def _with_rate_limit_headers(self, resp: Response) -> Response:
        remaining = 0 if resp.status == 429 else 999
        resp.headers.setdefault("RateLimit", f'"minute";r={remaining};t=60')
        resp.headers.setdefault("RateLimit-Policy", '"minute";q=1000;w=60')
        return resp

    # ---- management ----

    def _management(self, method: str, template: str, params: dict[str, str], body: Any) -> Response:
        handlers = {
            ("POST", "/v2/serverless"): self._create,
            ("GET", "/v2/serverless"): self._list,
            ("GET", "/v2/serverless/{id}"): self._get,
            ("PATCH", "/v2/serverless/{id}"): self._update,
            ("DELETE", "/v2/serverless/{id}"): self._delete,
            ("GET", "/v2/serverless/{id}/workers"): self._list_workers,
            ("GET", "/v2/serverless/{id}/workers/{workerId}/logs"): self._worker_logs,
            ("GET", "/v2/catalog/gpus"): self._list_gpus,
            ("GET", "/v2/catalog/gpus/{id}"): self._get_gpu,
        }
        handler = handlers.get((method, template))
        if handler is None:
            return self._violation(501, f"{method} {template}: in the spec but not simulated by FakeRunpod", [])
        if "id" in params and template.startswith("/v2/serverless/") and not self._visible(params["id"]):
            return problem(404, f"endpoint {params['id']} not found")
        return handler(params, body)

    def _create(self, params: dict[str, str], body: dict[str, Any]) -> Response:
        workers = {"min": 0, "max": 3, "idleTimeout": 10, **body.get("workers", {})}
        refusal = self._quota_refusal(None, workers["max"])
        if refusal is not None:
            return refusal
        endpoint_id = "ep" + "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(10))
        run = f"{self.base_url}/v2/{endpoint_id}"
        endpoint: dict[str, Any] = {
            "id": endpoint_id,
            "name": body["name"],
            "type": body["type"],
            "requestUrls": {
                "run": f"{run}/run",
                "runSync": f"{run}/runsync",
                "status": f"{run}/status/{{job_id}}",
                "stream": f"{run}/stream/{{job_id}}",
                "cancel": f"{run}/cancel/{{job_id}}",
                "retry": f"{run}/retry/{{job_id}}",
                "purgeQueue": f"{run}/purge-queue",
                "health": f"{run}/health",
            },
            "image": body.get("image", ""),
            "args": body.get("args", ""),
            "disk": body.get("disk", 20),
            "ports": body.get("ports", []),
            "env": body.get("env", {}),
            "registry": body.get("registry"),
            "gpu": _gpu_block(body["gpu"]) if "gpu" in body else None,
            "workers": workers,
            "scaling": body["scaling"],
            "dataCenterIds": body.get("dataCenterIds", []),
            "networkVolumes": body.get("networkVolumes", []),
            "timeout": body.get("timeout", 300000),
            "flashboot": body.get("flashboot", "OFF"),
            "createdAt": _now_iso(),
        }
        if "cpu" in body:
            endpoint["cpu"] = body["cpu"]
        self.endpoints[endpoint_id] = endpoint
        self._endpoint_account[endpoint_id] = self._caller_account
        self.created.append(copy.deepcopy(endpoint))
        if workers["min"] >= 1:
            self._warm_since[endpoint_id] = time.monotonic()
        return Response(201, copy.deepcopy(endpoint))

    def _list(self, params: dict[str, str], body: Any) -> Response:
        mine = [e for i, e in self.endpoints.items() if self._visible(i)]
        return Response(200, {"endpoints": copy.deepcopy(mine)})

    def _visible(self, endpoint_id: str) -> bool:
        """The endpoint exists and belongs to the calling key's account."""
        return endpoint_id in self.endpoints and self._endpoint_account.get(endpoint_id, "") == self._caller_account

    def _get(self, params: dict[str, str], body: Any) -> Response:
        return Response(200, copy.deepcopy(self.endpoints[params["id"]]))

    def _update(self, params: dict[str, str], body: dict[str, Any]) -> Response:
        endpoint_id = params["id"]
        endpoint = self.endpoints[endpoint_id]
        workers = {**endpoint["workers"], **body.get("workers", {})}
        refusal = self._quota_refusal(endpoint_id, workers["max"])
        if refusal is not None:
            return refusal
        if workers["min"] > workers["max"]:
            return self._violation(400, f"PATCH /v2/serverless/{endpoint_id}: workers.min exceeds workers.max", [])
        endpoint.update({k: copy.deepcopy(v) for k, v in body.items() if k not in ("gpu", "workers")})
        if "gpu" in body:
            gpu = {**(endpoint.get("gpu") or {}), **body["gpu"]}
            if "pools" in body["gpu"] and "excludedTypes" not in body["gpu"]:
                gpu.pop("excludedTypes", None)  # known server quirk: new pools drop exclusions not sent again
            endpoint["gpu"] = _gpu_block(gpu)
        endpoint["workers"] = workers
        if workers["min"] < 1:
            self._warm_since.pop(endpoint_id, None)
        else:
            self._warm_since.setdefault(endpoint_id, time.monotonic())
        return Response(200, copy.deepcopy(endpoint))

    def _delete(self, params: dict[str, str], body: Any) -> Response:
        endpoint_id = params["id"]
        del self.endpoints[endpoint_id]
        self._warm_since.pop(endpoint_id, None)
        self.deleted.append(endpoint_id)
        return Response(204)

    def _quota_refusal(self, endpoint_id: str | None, new_max: int) -> Response | None:
        quota = self.max_workers_quota
        if quota is None:
            return None
        total = new_max + sum(e["workers"]["max"] for i, e in self.endpoints.items() if i != endpoint_id)
        if total > quota:
            return problem(400, f"Max workers across all endpoints exceeds your worker quota ({quota})")
        return None

    def _workers_of(self, endpoint: dict[str, Any]) -> list[dict[str, Any]]:
        state = self.worker_state(endpoint["id"])
        if state == "none":
            return []
        gpu = endpoint.get("gpu") or {}
        pool = (gpu.get("pools") or [None])[0]
        gpu_type = next((g["id"] for g in self.gpus if g["pool"] == pool), None)
        return [
            {
                "id": f"{endpoint['id']}-w0",
                "status": state.upper(),
                "isStale": False,
                "version": 1,
                "gpuCount": gpu.get("count", 0),
                "image": endpoint["image"],
                "uptimeSeconds": 0,
                "gpuTypeId": gpu_type,
                "dataCenterId": "US-KS-2",
                "startedAt": endpoint["createdAt"],
            }
        ]

    def _list_workers(self, params: dict[str, str], body: Any) -> Response:
        workers = self._workers_of(self.endpoints[params["id"]])
        summary = {s: 0 for s in ("running", "idle", "initializing", "throttled", "unhealthy")}
        for w in workers:
            summary[w["status"].lower()] += 1
        return Response(200, {"workers": workers, "summary": {**summary, "total": len(workers)}, "endpointVersion": 1})

    def _worker_logs(self, params: dict[str, str], body: Any) -> Response:
        events = []
        for n, line in enumerate(("Worker starting.", "Worker ready.")):
            ts = _now_iso()
            data = json.dumps({"ts": ts, "source": "container", "line": line})
            events.append(f"id: {ts}/{n:012d}\ndata: {data}\n\n")
        headers = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        return Response(200, body="".join(events).encode(), headers=headers)

    def _list_gpus(self, params: dict[str, str], body: Any) -> Response:
        return Response(200, {"gpus": copy.deepcopy(self.gpus)})

    def _get_gpu(self, params: dict[str, str], body: Any) -> Response:
        gpu = next((g for g in self.gpus if g["id"] == params["id"]), None)
        return Response(200, copy.deepcopy(gpu)) if gpu else problem(404, f"GPU type {params['id']} not found")

    # ---- runtime ----

    def _runtime(self, op: str, endpoint_id: str, job_id: str | None, body: Any) -> Response:
        if endpoint_id not in self.endpoints:
            return Response(404, {"error": f"endpoint {endpoint_id} not found"})
        job = self.jobs.get(job_id or "")
        if job_id is not None and (job is None or job["endpoint_id"] != endpoint_id):
            return Response(404, {"error": f"job {job_id} not found"})
        can_run = self.worker_state(endpoint_id) not in ("initializing", "unhealthy", "throttled")
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
        if op in ("run", "runsync") and not (isinstance(body, dict) and isinstance(body.get("input"), dict)):
            with self.lock:
                return self._violation(400, f"{method} {path}: body must be an object with an 'input' object", [])
        url = f"{worker}/{op}" + (f"/{job}" if job else "")
        try:
            # The SDK's local API answers status on POST only; it runs a job when its status is asked.
            resp = httpx.post(url, json=body if op != "status" else None, timeout=120)
        except httpx.HTTPError as exc:
            return Response(502, {"error": f"attached worker unreachable: {type(exc).__name__}"})
        return self._with_rate_limit_headers(Response(resp.status_code, body=resp.content, headers=_json_type()))

    # ---- the vLLM worker's OpenAI-compatible routes ----

    def _openai(self, method: str, path: str, headers: dict[str, str], body: Any) -> Response:
        """Non-streamed answers (streams are written by `_serve`). Callers hold the lock."""
        match = OPENAI_PATH.match(path)
        assert match is not None
        fault = self._injected_fault(method, path, is_runtime=True)
        if fault is not None:
            return fault.response
        if headers.get("authorization", "").removeprefix("Bearer ") not in self.valid_keys:
            return problem(401, "missing or invalid bearer token")
        endpoint = self.endpoints.get(unquote(match["endpoint"]))
        if endpoint is None:
            return Response(404, {"error": f"endpoint {match['endpoint']} not found"})
        served = endpoint.get("env", {}).get("MODEL_NAME", "")
        if match["path"] == "models":
            if method != "GET":
                return self._violation(405, f"{method} {path}: openai models expects GET", [])
            return Response(200, {"object": "list", "data": [{"id": served, "object": "model", "owned_by": "vllm"}]})
        if method != "POST" or not isinstance(body, dict):
            return self._violation(400, f"{method} {path}: expects POST with a JSON object", [])
        refusal = self._openai_refusal(body, served)
        if refusal is not None:
            return Response(200, refusal)  # vLLM's errors come back with HTTP 200 through Runpod
        return Response(200, _completion(match["path"], body))

    def _openai_refusal(self, body: dict[str, Any], served: str) -> dict[str, Any] | None:
        """A scripted error_200, or vLLM's own 404 for a model it does not serve. Callers hold the lock."""
        if self.openai_script and self.openai_script[0]["kind"] == "error_200":
            step = self.openai_script.pop(0)
            return _vllm_error(step["code"], step["message"])
        if body.get("model") != served:
            return _vllm_error(404, f"The model `{body.get('model')}` does not exist.")
        return None

    def _serve(self, h: Any) -> None:
        """Streamed OpenAI answers are written here, chunk by chunk; everything else goes the usual way."""
        path = urlsplit(h.path).path
        if h.command != "POST" or not OPENAI_PATH.match(path):
            super()._serve(h)
            return
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length > 0 else b""
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        if not (isinstance(parsed, dict) and parsed.get("stream") is True):
            original, h.rfile = h.rfile, io.BytesIO(raw)  # hand the body back to the usual path
            try:
                super()._serve(h)
            finally:
                h.rfile = original
            return
        self._serve_stream(h, path, raw, parsed)

    def _serve_stream(self, h: Any, path: str, raw: bytes, body: dict[str, Any]) -> None:
        headers = {k.lower(): v for k, v in h.headers.items()}
        with self.lock:
            self.requests.append(RecordedRequest("POST", path, {}, headers, body, raw, time.monotonic()))
            plain = self._openai("POST", path, headers, {**body, "stream": False})
            step = self.openai_script.pop(0) if plain.status == 200 and self.openai_script else None
            delay = self.openai_chunk_delay
        if plain.status != 200 or "error" in (plain.json or {}) or plain.reset:
            _write_plain(h, plain)  # refusals and scripted faults are not streamed
            return
        match = OPENAI_PATH.match(path)
        assert match is not None
        events = _stream_events(match["path"], body)
        if step is not None and step["kind"] == "stream_error":
            events = [json.dumps(_vllm_error(step["code"], step["message"]))]
        try:
            h.send_response(200)
            for name, value in (
                ("Content-Type", "text/event-stream"),
                ("Cache-Control", "no-cache"),
                ("Transfer-Encoding", "chunked"),
            ):
                h.send_header(name, value)
            h.end_headers()
            for n, data in enumerate(events):
                if step is not None and step["kind"] == "break" and n == 2:
                    h.reset_connection()
                    return
                time.sleep(delay)
                chunk = f"data: {data}\n\n".encode()
                h.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                h.wfile.flush()
            h.wfile.write(b"0\r\n\r\n")
        except OSError:
            h.close_connection = True


@dataclass(frozen=True)
class _Fault:
    kind: str
    response: Response


def _gpu_block(gpu: dict[str, Any]) -> dict[str, Any]:
    return {"count": 1, "allowedCudaVersions": [], "minCudaVersion": None, **copy.deepcopy(gpu)}


def _finish(job: dict[str, Any]) -> None:
    job["status"] = job.get("outcome", {}).get("status", "COMPLETED")


def _job_view(job: dict[str, Any]) -> dict[str, Any]:
    view: dict[str, Any] = {"id": job["id"], "status": job["status"]}
    if job["status"] == "COMPLETED":
        view.update(output={"echo": job["input"]}, delayTime=1, executionTime=1)
    elif job["status"] in ("FAILED", "TIMED_OUT") and "outcome" in job:
        view.update(error=job["outcome"]["error"], delayTime=1, executionTime=1)
    return view


def _semantic_errors(body: dict[str, Any], creating: bool) -> list[str]:
    """Rules the spec states in prose rather than in the schema."""
    errors = []
    if creating and ("gpu" in body) == ("cpu" in body):
        errors.append("exactly one of `gpu` or `cpu` is required")
    gpu = body.get("gpu") if isinstance(body.get("gpu"), dict) else {}
    if gpu.get("allowedCudaVersions") and gpu.get("minCudaVersion"):
        errors.append("gpu.allowedCudaVersions (non-empty) and gpu.minCudaVersion are mutually exclusive")
    workers = body.get("workers") if isinstance(body.get("workers"), dict) else {}
    if isinstance(workers.get("min"), int) and isinstance(workers.get("max"), int) and workers["min"] > workers["max"]:
        errors.append("workers.min exceeds workers.max")
    return errors


def _json_type() -> dict[str, str]:
    return {"Content-Type": "application/json"}


def _vllm_error(code: int, message: str) -> dict[str, Any]:
    kinds = {400: "BadRequestError", 404: "NotFoundError", 500: "InternalServerError"}
    return {"error": {"message": message, "type": kinds.get(code, "Error"), "param": None, "code": code}}


def _reply_text(kind: str, body: dict[str, Any]) -> str:
    if kind == "completions":
        return f"echo: {body.get('prompt', '')}"
    messages = body.get("messages") or [{}]
    last = messages[-1] if isinstance(messages[-1], dict) else {}
    return f"echo: {last.get('content', '')}"


def _completion(kind: str, body: dict[str, Any]) -> dict[str, Any]:
    text, created, model = _reply_text(kind, body), int(time.time()), body.get("model")
    usage = {"prompt_tokens": 3, "completion_tokens": len(text.split()), "total_tokens": 3 + len(text.split())}
    if kind == "completions":
        choice: dict[str, Any] = {"index": 0, "text": text, "finish_reason": "stop", "logprobs": None}
        return {"id": "cmpl-fake", "object": "text_completion", "created": created, "model": model,
                "choices": [choice], "usage": usage}  # fmt: skip
    choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
    return {"id": "chatcmpl-fake", "object": "chat.completion", "created": created, "model": model,
            "choices": [choice], "usage": usage}  # fmt: skip


def _stream_events(kind: str, body: dict[str, Any]) -> list[str]:
    """The data of each SSE event: one per word, then a finish chunk, then [DONE]."""
    words = _reply_text(kind, body).split(" ")
    base = {"id": "chatcmpl-fake", "created": int(time.time()), "model": body.get("model")}
    events = []
    for n, word in enumerate([*words, None]):
        piece = None if word is None else (word if n == 0 else " " + word)
        finish = "stop" if word is None else None
        if kind == "completions":
            choice: dict[str, Any] = {"index": 0, "text": piece or "", "finish_reason": finish}
            events.append(json.dumps({**base, "object": "text_completion", "choices": [choice]}))
        else:
            delta = {} if piece is None else ({"role": "assistant", "content": piece} if n == 0 else {"content": piece})
            choice = {"index": 0, "delta": delta, "finish_reason": finish}
            events.append(json.dumps({**base, "object": "chat.completion.chunk", "choices": [choice]}))
    return [*events, "[DONE]"]


def _write_plain(h: Any, resp: Response) -> None:
    """Answer a request taken over by FakeRunpod._serve with an ordinary (non-streamed) response."""
    if resp.reset:
        h.reset_connection()
        return
    if resp.delay:
        time.sleep(resp.delay)
    payload = resp.payload()
    try:
        h.send_response(resp.status)
        headers = {"Content-Type": "application/json", **resp.headers, "Content-Length": str(len(payload))}
        for name, value in headers.items():
            h.send_header(name, value)
        h.end_headers()
        h.wfile.write(payload)
    except OSError:
        h.close_connection = True
