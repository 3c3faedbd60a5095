"""Runpod's serverless runtime API (`/v2/{endpoint}/...`) of one endpoint: its jobs, and the
OpenAI-compatible routes a vLLM worker serves behind it (`/v2/{endpoint}/openai/v1/...`).

Answers come back as Runpod sent them; what they mean to a caller is the proxy's business.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx

from shared.clients.runpod.config import RunpodConfig
from shared.clients.runpod.connection import Connection, decode, read_all, transport_error


class EventStream:
    """A server-sent events answer being read. Iterate `chunks` once (a broken connection raises
    RunpodError), then `close()`."""

    def __init__(self, resp: httpx.Response) -> None:
        self._resp = resp
        self.chunks: Iterator[bytes] = self._read()

    def _read(self) -> Iterator[bytes]:
        try:
            yield from self._resp.iter_bytes()
        except httpx.HTTPError as exc:
            raise transport_error(exc) from None

    def close(self) -> None:
        self._resp.close()


class RuntimeClient(Connection):
    def __init__(self, api_key: str, config: RunpodConfig, endpoint_id: str, http: httpx.Client | None = None):
        super().__init__(api_key, config, http)
        self.endpoint_id = endpoint_id

    def __enter__(self) -> RuntimeClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- jobs ----

    def run(self, body: dict[str, Any]) -> Any:
        return self._request("POST", self._url("run"), json=body)

    def runsync(self, body: dict[str, Any], wait_ms: int) -> Any:
        # Runpod holds the call up to `wait`; ours lasts that long plus the usual allowance.
        timeout = wait_ms / 1000 + self._config.timeout_seconds
        return self._request("POST", self._url("runsync"), json=body, params={"wait": wait_ms}, timeout=timeout)

    def status(self, job_id: str) -> Any:
        return self._request("GET", self._url(f"status/{job_id}"))

    def cancel(self, job_id: str) -> Any:
        return self._request("POST", self._url(f"cancel/{job_id}"))

    def stream(self, job_id: str) -> Any:
        return self._request("GET", self._url(f"stream/{job_id}"))

    def purge_queue(self) -> Any:
        return self._request("POST", self._url("purge-queue"))

    def health(self) -> Any:
        return self._request("GET", self._url("health"))

    # ---- a vLLM worker's OpenAI-compatible routes ----

    def openai(self, path: str, body: dict[str, Any], timeout: float) -> Any:
        return self._request("POST", self._url(f"openai/v1/{path}"), json=body, timeout=timeout)

    def openai_stream(self, path: str, body: dict[str, Any], read_timeout: float) -> EventStream | Any:
        """An EventStream, or the decoded body when the worker answered with plain JSON instead of SSE."""
        timeout = httpx.Timeout(self._config.timeout_seconds, read=read_timeout)
        resp = self._open_stream("POST", self._url(f"openai/v1/{path}"), timeout=timeout, json=body)
        if "text/event-stream" in resp.headers.get("content-type", ""):
            return EventStream(resp)
        read_all(resp)
        return decode(resp)

    def _url(self, action: str) -> str:
        return self._config.runtime_url(self.endpoint_id, action)
