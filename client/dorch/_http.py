"""What the sync and async transports share, free of I/O: a request description (`Call`), where the
API is and who is calling (`Settings`), and when a failed attempt is tried again (`RetryPolicy`)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import httpx

from dorch.errors import ApiError, ConnectionFailed, Unauthorized, error_for, parse_retry_after

DEFAULT_URL = "http://127.0.0.1:8080"
DEFAULT_TIMEOUT = 30.0
STREAM_READ_TIMEOUT = 45.0  # the API sends a keep-alive comment every 15 s on an idle stream
RETRY_STATUSES = frozenset({429, 503})
SAFE_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE"})


def _version() -> str:
    try:
        return version("deployment-orchestrator-client")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "0"


USER_AGENT = f"dorch/{_version()}"


@dataclass(frozen=True)
class Call:
    """One API request. `replayable`: a POST that is safe to send again (it carries an Idempotency-Key)."""

    method: str
    path: str
    params: Mapping[str, Any] | None = None
    json: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    timeout: float | None = None
    replayable: bool = False

    @property
    def retry_on_transport_error(self) -> bool:
        return self.method in SAFE_METHODS or self.replayable

    def query(self) -> dict[str, Any]:
        """The params without the unset ones; booleans as the API spells them."""
        out: dict[str, Any] = {}
        for key, value in (self.params or {}).items():
            if value is not None:
                out[key] = ("true" if value else "false") if isinstance(value, bool) else value
        return out


@dataclass(frozen=True)
class Settings:
    """Where the API is and how to call it; `base_url`/`api_key` default to DORCH_URL / DORCH_API_KEY."""

    base_url: str
    api_key: str | None
    timeout: float
    max_retries: int
    max_retry_wait: float

    @classmethod
    def resolve(
        cls,
        base_url: str | None,
        api_key: str | None,
        timeout: float | None = None,
        max_retries: int = 3,
        max_retry_wait: float = 60.0,
    ) -> Settings:
        url = (base_url or os.environ.get("DORCH_URL") or DEFAULT_URL).rstrip("/")
        key = api_key if api_key is not None else os.environ.get("DORCH_API_KEY")
        return cls(url, key or None, DEFAULT_TIMEOUT if timeout is None else timeout, max_retries, max_retry_wait)

    def headers(self) -> dict[str, str]:
        if not self.api_key:
            raise Unauthorized(401, "UnauthorizedError", "No API key: set DORCH_API_KEY or pass api_key=")
        return {"Authorization": f"Bearer {self.api_key}", "User-Agent": USER_AGENT}

    def timeout_for(self, call: Call, *, stream: bool = False) -> httpx.Timeout:
        """The call's own timeout when it has one; otherwise the client's, with a longer read for streams."""
        if call.timeout is not None:
            return httpx.Timeout(call.timeout)
        return httpx.Timeout(self.timeout, read=max(self.timeout, STREAM_READ_TIMEOUT) if stream else self.timeout)

    def request_args(self, call: Call, *, stream: bool = False) -> dict[str, Any]:
        """httpx keyword arguments of `call`: query, body, headers (with the API key) and timeout."""
        return {
            "params": call.query(),
            "json": call.json,
            "headers": {**self.headers(), **call.headers},
            "timeout": self.timeout_for(call, stream=stream),
        }


@dataclass(frozen=True)
class RetryPolicy:
    """429 and 503 (and a 409 "in progress" of an idempotent create) are retried, honouring Retry-After,
    at most `max_retries` times; a Retry-After longer than `max_wait` is not waited out but raised."""

    max_retries: int
    max_wait: float

    def delay_after_status(self, call: Call, attempt: int, error: ApiError) -> float | None:
        """Seconds to wait before the next attempt, or None to raise `error` now."""
        asked = parse_retry_after(error.headers.get("retry-after"))
        retryable = error.status in RETRY_STATUSES or (error.status == 409 and call.replayable and asked is not None)
        if not retryable or attempt >= self.max_retries:
            return None
        delay = asked if asked is not None else min(2.0**attempt, 8.0)
        return delay if delay <= self.max_wait else None

    def delay_after_transport_error(self, call: Call, attempt: int) -> float | None:
        if not call.retry_on_transport_error or attempt >= self.max_retries:
            return None
        return min(0.5 * 2.0**attempt, 4.0)

    def next_delay(self, call: Call, attempt: int, failure: Exception, base_url: str) -> float:
        """Seconds to wait before attempt `attempt + 1` after `failure` (an httpx.TransportError or an
        ApiError); raises the typed exception instead when no retry is due."""
        if isinstance(failure, ApiError):
            delay = self.delay_after_status(call, attempt, failure)
            if delay is None:
                raise failure
            return delay
        if not isinstance(failure, httpx.TransportError):
            raise failure
        delay = self.delay_after_transport_error(call, attempt)
        if delay is None:
            raise connection_failed(failure, call, base_url) from failure
        return delay


def decode(response: httpx.Response) -> Any:
    """The parsed body of a success, or the typed exception of an error (raised)."""
    if response.status_code >= 400:
        raise error_for_response(response)
    if response.status_code == 204 or not response.content:
        return None
    return body_of(response)


def error_for_response(response: httpx.Response) -> ApiError:
    """The typed exception of an error answer (its body already read)."""
    return error_for(response.status_code, body_of(response), response.headers)


def body_of(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text


def connection_failed(exc: httpx.HTTPError, call: Call, base_url: str) -> ConnectionFailed:
    return ConnectionFailed(f"{call.method} {base_url}{call.path} failed: {type(exc).__name__}: {exc}".strip(": "))
