"""What Runpod answered, as one `Fault`: the one map from an HTTP answer to a kind, for both of its APIs.

`kind` says what happened (callers act on `not_found`, `quota`, ...), `code` is what a deployment
failed by it shows, and the transient kinds are retried while the others fail at once. The management
API answers problem details (`title`, `detail`, `errors`); the runtime API and vLLM answer `error` or
`message`: `problem_detail` reads all of them.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from shared.platform.faults import Fault
from shared.platform.retry import parse_retry_after

if TYPE_CHECKING:
    import httpx

TRANSIENT = frozenset({"rate_limited", "unavailable", "timeout", "invalid_response"})
CODES = {
    "unauthorized": "runpod_unauthorized",
    "forbidden": "runpod_forbidden",
    "quota": "runpod_quota_exceeded",
    "bad_request": "runpod_rejected",
    "too_large": "runpod_rejected",
    "not_found": "runpod_not_found",
    "rate_limited": "runpod_unavailable",
    "unavailable": "runpod_unavailable",
    "timeout": "runpod_unavailable",
    "invalid_response": "runpod_unavailable",
}
QUOTA_WORDS = ("quota", "worker limit", "max workers", "spend limit", "balance")


def runpod_code(kind: str) -> str:
    """The deployment error code of a Runpod error kind."""
    return CODES.get(kind, "runpod_unavailable")


class RunpodError(Fault):
    """`status` is Runpod's HTTP status (None when no answer came); `detail` what its error body said."""

    def __init__(
        self,
        kind: str,
        message: str,
        status: int | None = None,
        retry_after: float | None = None,
        *,
        detail: str = "",
    ) -> None:
        super().__init__(runpod_code(kind), message, transient=kind in TRANSIENT, retry_after=retry_after)
        self.kind, self.status, self.detail = kind, status, detail


def error_from(resp: httpx.Response) -> RunpodError:
    """A failed answer of either API as its RunpodError."""
    status = resp.status_code
    detail = problem_detail(resp)
    retry_after = parse_retry_after(resp.headers.get("Retry-After"))
    quota = any(word in detail.lower() for word in QUOTA_WORDS)
    if status == 401:
        return RunpodError("unauthorized", "Runpod rejected the API key (401)", status, detail=detail)
    if status == 403 and not quota:
        return RunpodError("forbidden", f"the Runpod API key lacks permission: {detail}", status, detail=detail)
    if status == 404:
        return RunpodError("not_found", detail or "not found", status, detail=detail)
    if status == 413:
        return RunpodError("too_large", "Runpod refused the request body as too large", status, detail=detail)
    if status == 429:
        return RunpodError("rate_limited", "Runpod rate limit reached", status, retry_after, detail=detail)
    if status in (408, 504):
        return RunpodError("timeout", f"Runpod timed out ({status})", status, retry_after, detail=detail)
    if status >= 500:
        return RunpodError("unavailable", f"Runpod is unavailable ({status})", status, retry_after, detail=detail)
    if quota:
        return RunpodError("quota", f"Runpod refused: {detail}", status, detail=detail)
    refused = f"Runpod refused the request ({status}){': ' + detail if detail else ''}"
    return RunpodError("bad_request", refused, status, detail=detail)


def problem_detail(resp: httpx.Response) -> str:
    """What an error body says: a problem detail's `detail` (+ `errors`), an `error` or `message`, or the text."""
    try:
        body = resp.json()
    except (ValueError, RecursionError):  # RecursionError: nested deeper than Python's json can follow
        return resp.text[:300]
    if not isinstance(body, dict):
        return json.dumps(body)[:300]
    errors = body.get("errors")
    parts = [_message(body), *(str(e) for e in (errors if isinstance(errors, list) else []))]
    text = "; ".join(p for p in parts if p)
    if text:
        return text[:500]
    return json.dumps(body)[:300] if body else ""


def _message(body: dict[str, Any]) -> str:
    for key in ("detail", "error", "message", "title"):
        value = body.get(key)
        if isinstance(value, str) and value:
            return value
        if isinstance(value, dict) and isinstance(value.get("message"), str):
            return str(value["message"])
    return ""
