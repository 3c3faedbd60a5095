"""A small Runpod client: REST v2 management (`/v2/serverless...`) and the serverless runtime API.

Every call has a timeout. Errors become `RunpodError`, a `Fault` whose `kind` says what Runpod
answered (callers act on `not_found`, `quota`, ...) and whose `code` is what a deployment failed by it
shows: transient kinds (`rate_limited`, `unavailable`) are retried, the others fail at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from shared.clients.header_tokens import UnsafeToken, bearer
from shared.platform.faults import Fault
from shared.platform.retry import parse_retry_after

TRANSIENT = frozenset({"rate_limited", "unavailable"})
CODES = {
    "unauthorized": "runpod_unauthorized",
    "forbidden": "runpod_forbidden",
    "quota": "runpod_quota_exceeded",
    "bad_request": "runpod_rejected",
    "not_found": "runpod_not_found",
    "rate_limited": "runpod_unavailable",
    "unavailable": "runpod_unavailable",
}


def runpod_code(kind: str) -> str:
    """The deployment error code of a Runpod error kind."""
    return CODES.get(kind, "runpod_unavailable")


class RunpodError(Fault):
    def __init__(self, kind: str, message: str, status: int | None = None, retry_after: float | None = None):
        super().__init__(runpod_code(kind), message, transient=kind in TRANSIENT, retry_after=retry_after)
        self.kind, self.status = kind, status


@dataclass(frozen=True)
class RunpodConfig:
    api_base: str
    runtime_base: str
    timeout_seconds: float


class RunpodClient:
    def __init__(self, api_key: str, config: RunpodConfig, http: httpx.Client | None = None):
        self._config = config
        self._http = http or httpx.Client(timeout=config.timeout_seconds)
        try:
            self._auth: dict[str, str] | None = bearer(api_key)
        except UnsafeToken:
            self._auth = None  # every call answers "unauthorized": no header can carry this key

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RunpodClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- management (REST v2) ----

    def create_endpoint(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._call("POST", self._mgmt("/v2/serverless"), json=body)

    def get_endpoint(self, endpoint_id: str) -> dict[str, Any] | None:
        try:
            return self._call("GET", self._mgmt(f"/v2/serverless/{endpoint_id}"))
        except RunpodError as exc:
            if exc.kind == "not_found":
                return None
            raise

    def list_endpoints(self) -> list[dict[str, Any]]:
        return list(self._call("GET", self._mgmt("/v2/serverless")).get("endpoints", []))

    def update_endpoint(self, endpoint_id: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._call("PATCH", self._mgmt(f"/v2/serverless/{endpoint_id}"), json=body)

    def delete_endpoint(self, endpoint_id: str) -> bool:
        """True when this call deleted it, False when it was already gone."""
        try:
            self._call("DELETE", self._mgmt(f"/v2/serverless/{endpoint_id}"))
            return True
        except RunpodError as exc:
            if exc.kind == "not_found":
                return False
            raise

    def list_workers(self, endpoint_id: str) -> dict[str, Any]:
        return self._call("GET", self._mgmt(f"/v2/serverless/{endpoint_id}/workers"))

    def worker_logs(self, endpoint_id: str, worker_id: str, tail: int, budget_seconds: float) -> list[dict[str, Any]]:
        """The last `tail` container log lines of one worker (the SSE stream, read for `budget_seconds`)."""
        import json
        import time

        url = self._mgmt(f"/v2/serverless/{endpoint_id}/workers/{worker_id}/logs")
        lines: list[dict[str, Any]] = []
        deadline = time.monotonic() + budget_seconds
        headers = self._headers()
        try:
            with self._http.stream("GET", url, headers=headers, params={"tail": tail, "source": "container"}) as r:
                if not r.is_success:
                    r.read()
                    raise _error_from(r)
                for raw in r.iter_lines():
                    if raw.startswith("data:"):
                        try:
                            lines.append(json.loads(raw[5:].strip()))
                        except ValueError:
                            continue
                    if len(lines) >= tail or time.monotonic() > deadline:
                        break
        except httpx.HTTPError as exc:
            raise RunpodError("unavailable", f"cannot read worker logs ({type(exc).__name__})") from None
        return lines

    def list_gpus(self) -> list[dict[str, Any]]:
        return list(self._call("GET", self._mgmt("/v2/catalog/gpus")).get("gpus", []))

    # ---- runtime (serverless) ----

    def endpoint_health(self, endpoint_id: str) -> dict[str, Any]:
        return self._call("GET", self.runtime_url(endpoint_id, "health"))

    def runtime_url(self, endpoint_id: str, action: str) -> str:
        return f"{self._config.runtime_base.rstrip('/')}/v2/{endpoint_id}/{action}"

    # ---- plumbing ----

    def _mgmt(self, path: str) -> str:
        return self._config.api_base.rstrip("/") + path

    def _headers(self) -> dict[str, str]:
        if self._auth is None:
            raise RunpodError("unauthorized", "the Runpod API key holds characters no HTTP header can carry")
        return self._auth

    def _call(self, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
        headers = self._headers()
        try:
            resp = self._http.request(method, url, headers=headers, **kwargs)
        except httpx.TimeoutException:
            raise RunpodError("unavailable", "Runpod did not answer in time") from None
        except httpx.HTTPError as exc:
            raise RunpodError("unavailable", f"cannot reach Runpod ({type(exc).__name__})") from None
        if resp.is_success:
            if resp.status_code == 204 or not resp.content:
                return {}
            try:
                body = resp.json()
            except ValueError:
                raise RunpodError("unavailable", "Runpod answered with a body that is not JSON") from None
            return body if isinstance(body, dict) else {"items": body}
        raise _error_from(resp)


def _error_from(resp: httpx.Response) -> RunpodError:
    status = resp.status_code
    detail = _problem_detail(resp)
    retry_after = parse_retry_after(resp.headers.get("Retry-After"))
    if status == 401:
        return RunpodError("unauthorized", "Runpod rejected the API key (401)", status)
    if status == 403:
        if _mentions_quota(detail):
            return RunpodError("quota", f"Runpod refused: {detail}", status)
        return RunpodError("forbidden", f"the Runpod API key lacks permission: {detail}", status)
    if status == 404:
        return RunpodError("not_found", detail or "not found", status)
    if status == 429:
        return RunpodError("rate_limited", "Runpod rate limit reached", status, retry_after)
    if status >= 500:
        return RunpodError("unavailable", f"Runpod is unavailable ({status})", status, retry_after)
    if _mentions_quota(detail):
        return RunpodError("quota", f"Runpod refused: {detail}", status)
    return RunpodError("bad_request", f"Runpod refused the request ({status}): {detail}", status)


def _problem_detail(resp: httpx.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return resp.text[:300]
    if not isinstance(body, dict):
        return str(body)[:300]
    parts = [str(body.get("detail") or body.get("title") or body.get("error") or "")]
    parts += [str(e) for e in body.get("errors") or []]
    return "; ".join(p for p in parts if p)[:500]


def _mentions_quota(detail: str) -> bool:
    text = detail.lower()
    return any(word in text for word in ("quota", "worker limit", "max workers", "spend limit", "balance"))
