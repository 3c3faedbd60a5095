"""Typed exceptions: one class per kind of failure the API reports, mirroring its error shape
`{"error": "<Name>Error", "message": ..., "details": {...}}`, plus the two a deployment itself can end in."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class DorchError(Exception):
    """Base class of every exception this package raises."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConnectionFailed(DorchError):
    """The API could not be reached (connection refused, reset, DNS, timeout), after the allowed retries."""


class ApiError(DorchError):
    """The API answered with an error status.

    Attributes: `status` (HTTP status), `error` (the API's error name, e.g. "ConflictError"),
    `message`, `details` (a dict; its keys depend on the error) and the response `headers`.
    """

    def __init__(
        self,
        status: int,
        error: str,
        message: str,
        details: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.details: dict[str, Any] = dict(details or {})
        self.headers: dict[str, str] = dict(headers or {})

    def __str__(self) -> str:
        return f"{self.status} {self.error}: {self.message}"


class BadRequest(ApiError):
    """400 (and other 4xx without a class of their own): the request cannot be served as sent."""


class Unauthorized(ApiError):
    """401 or 403: the API key is missing, wrong, revoked or its tenant suspended."""


class NotFound(ApiError):
    """404: no such deployment, credential or job (another tenant's are 404 too)."""


class Conflict(ApiError):
    """409: the resource is in a state that refuses the call (e.g. not ready, or a reused Idempotency-Key)."""


class ValidationFailed(ApiError):
    """422: the body or a parameter is invalid. `fields` lists `{"field", "message"}` pairs when known."""

    @property
    def fields(self) -> list[dict[str, str]]:
        errors = self.details.get("errors")
        if isinstance(errors, list):
            return [{"field": str(e.get("field", "")), "message": str(e.get("message", ""))} for e in errors]
        field = self.details.get("field") or self.details.get("header")
        return [{"field": str(field), "message": self.message}] if field else []

    def __str__(self) -> str:
        parts = "; ".join(f"{f['field']}: {f['message']}" for f in self.fields if f["field"])
        return f"{super().__str__()}" + (f" ({parts})" if parts else "")


class RateLimited(ApiError):
    """429: too many requests. `retry_after` is the number of seconds the API asked to wait (or None)."""

    @property
    def retry_after(self) -> float | None:
        return parse_retry_after(self.headers.get("retry-after"))


class ServerError(ApiError):
    """5xx: the API or an upstream (Runpod) failed; 503s and 504s are usually worth retrying later."""

    @property
    def retry_after(self) -> float | None:
        return parse_retry_after(self.headers.get("retry-after"))


class DeploymentFailed(DorchError):
    """The deployment ended in `failed` (or was deleted) instead of becoming ready.

    `code` is the API's stable error code (`model_not_found`, `runpod_unauthorized`, ...), `step` the
    step that failed, `retryable` whether a new deployment may succeed as is.
    """

    def __init__(
        self, deployment_id: str, code: str, message: str, step: str | None = None, retryable: bool = False
    ) -> None:
        super().__init__(message)
        self.deployment_id = deployment_id
        self.code = code
        self.step = step
        self.retryable = retryable

    def __str__(self) -> str:
        return f"deployment {self.deployment_id} failed ({self.code}): {self.message}"


class TaskFailed(DorchError):
    """A task (an update, a rollback) ended `failed`; the deployment keeps serving its previous generation.

    `code` is the API's error code, `task_id` the task."""

    def __init__(self, task_id: str, code: str, message: str) -> None:
        super().__init__(message)
        self.task_id = task_id
        self.code = code

    def __str__(self) -> str:
        return f"task {self.task_id} failed ({self.code}): {self.message}"


class WaitTimeout(DorchError, TimeoutError):
    """`wait()` gave up: the deployment had not settled within the timeout (it keeps going server-side)."""


_BY_STATUS: dict[int, type[ApiError]] = {
    401: Unauthorized,
    403: Unauthorized,
    404: NotFound,
    409: Conflict,
    422: ValidationFailed,
    429: RateLimited,
}


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header in its delta-seconds form; None when absent or not a number."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def error_for(status: int, body: Any, headers: Mapping[str, str]) -> ApiError:
    """The typed exception for an error response; `body` is its parsed JSON (or text)."""
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        name, message = body["error"], str(body.get("message") or body["error"])
        details = body.get("details") if isinstance(body.get("details"), dict) else {}
    elif isinstance(body, dict) and isinstance(body.get("error"), dict):  # OpenAI's shape
        inner = body["error"]
        name, message, details = str(inner.get("type") or "Error"), str(inner.get("message") or ""), inner
    else:
        name, message, details = f"HTTP{status}", (str(body).strip() or f"HTTP {status}")[:500], {}
    cls = _BY_STATUS.get(status) or (ServerError if status >= 500 else BadRequest)
    return cls(status, name, message, details, {k.lower(): v for k, v in headers.items()})
