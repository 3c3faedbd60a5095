"""Runpod's REST v2 management API (`/v2/serverless...`, `/v2/network-volumes`, `/v2/catalog`) for one key.

Also the two runtime calls the deployment engine makes with the same key: an endpoint's health and
the URL its callers run jobs on.
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

from shared.clients.runpod.connection import Connection
from shared.clients.runpod.errors import RunpodError


class RunpodClient(Connection):
    def __enter__(self) -> RunpodClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- endpoints ----

    def create_endpoint(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._call("POST", "/v2/serverless", json=body)

    def get_endpoint(self, endpoint_id: str) -> dict[str, Any] | None:
        try:
            return self._call("GET", f"/v2/serverless/{endpoint_id}")
        except RunpodError as exc:
            if exc.kind == "not_found":
                return None
            raise

    def list_endpoints(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/v2/serverless").get("endpoints", []))

    def update_endpoint(self, endpoint_id: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._call("PATCH", f"/v2/serverless/{endpoint_id}", json=body)

    def delete_endpoint(self, endpoint_id: str) -> bool:
        """True when this call deleted it, False when it was already gone."""
        try:
            self._call("DELETE", f"/v2/serverless/{endpoint_id}")
            return True
        except RunpodError as exc:
            if exc.kind == "not_found":
                return False
            raise

    # ---- network volumes (the model cache) ----

    def list_network_volumes(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/v2/network-volumes").get("networkVolumes", []))

    def create_network_volume(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._call("POST", "/v2/network-volumes", json=body)

    def update_network_volume(self, volume_id: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._call("PATCH", f"/v2/network-volumes/{volume_id}", json=body)

    # ---- workers and the GPU catalog ----

    def list_workers(self, endpoint_id: str) -> dict[str, Any]:
        return self._call("GET", f"/v2/serverless/{endpoint_id}/workers")

    def worker_logs(self, endpoint_id: str, worker_id: str, tail: int, budget_seconds: float) -> list[dict[str, Any]]:
        """The last `tail` container log lines of one worker (the SSE stream, read for `budget_seconds`)."""
        url = self._config.management_url(f"/v2/serverless/{endpoint_id}/workers/{worker_id}/logs")
        params = {"tail": tail, "source": "container"}
        deadline = time.monotonic() + budget_seconds
        resp = self._open_stream("GET", url, timeout=httpx.Timeout(self._config.timeout_seconds), params=params)
        lines: list[dict[str, Any]] = []
        try:
            for raw in resp.iter_lines():
                if raw.startswith("data:"):
                    try:
                        lines.append(json.loads(raw[5:].strip()))
                    except ValueError:
                        continue
                if len(lines) >= tail or time.monotonic() > deadline:
                    break
        except httpx.HTTPError as exc:
            raise RunpodError("unavailable", f"cannot read worker logs ({type(exc).__name__})") from None
        finally:
            resp.close()
        return lines

    def gpu_stock(self, min_cuda_version: str, timeout: float) -> list[dict[str, Any]]:
        """The catalog with serverless availability, scoped to hosts offering `min_cuda_version` or later."""
        params = {"include": "AVAILABILITY", "product": "SERVERLESS", "minCudaVersion": min_cuda_version}
        return list(self._call("GET", "/v2/catalog/gpus", params=params, timeout=timeout).get("gpus", []))

    # ---- the runtime, as the engine sees it ----

    def endpoint_health(self, endpoint_id: str) -> dict[str, Any]:
        return _object(self._request("GET", self.runtime_url(endpoint_id, "health")))

    def runtime_url(self, endpoint_id: str, action: str) -> str:
        return self._config.runtime_url(endpoint_id, action)

    # ---- plumbing ----

    def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        return _object(self._request(method, self._config.management_url(path), **kwargs))


def _object(body: Any) -> dict[str, Any]:
    return body if isinstance(body, dict) else {"items": body}
