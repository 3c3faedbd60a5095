"""FakeRunpod: the management, runtime and vLLM handlers over one state, on one local server."""

from __future__ import annotations

import copy
import re
from typing import Any
from urllib.parse import unquote

from tests.fakes.base import Response
from tests.fakes.runpod.management import ManagementApi
from tests.fakes.runpod.runtime import RUNTIME_PATH, RuntimeApi
from tests.fakes.runpod.spec import SpecRoute, spec_routes
from tests.fakes.runpod.state import problem
from tests.fakes.runpod.vllm import OPENAI_PATH, VllmWorker


class FakeRunpod(VllmWorker, RuntimeApi, ManagementApi):
    """Runpod for tests. Inspect `endpoints`, `created`, `deleted`, `jobs`, `violations`, `fault_counts`, `requests`;
    steer with `faults`, `fail_next`, `hold_next`, `set_worker_state`, `max_workers_quota`, `ready_after_seconds`,
    `scale_up_seconds`, `gpus`, `set_availability`, `cuda_versions`, `simulate_capacity` (per-pool cold starts,
    slots, throttling)."""

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
            self._query = dict(query)  # read by the catalog (include, product, minCudaVersion)
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
        if runtime is not None:
            return self._check_runtime(method, path, runtime, body)
        if route is None:
            return self._violation(404, f"{method} {path}: no such path in Runpod's REST v2 or runtime API", [])
        return self._check_management(method, route, body)
