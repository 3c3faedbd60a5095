"""vLLM's errors, which come back inside HTTP 200 through Runpod, raised as the product's errors.

vLLM's OpenAI server answers `{"object": "error", ...}` or `{"error": {...}}` with its own status in
`code`; a failed Runpod handler answers a job view with status FAILED. Both arrive as HTTP 200.
"""

from __future__ import annotations

import json
from typing import Any

from shared.platform.errors import (
    ApiError,
    BadGatewayError,
    BadRequestError,
    NotFoundError,
    PayloadTooLargeError,
    RateLimitError,
    ValidationError,
)
from shared.proxy.sse import first_data
from shared.schemas.stored import Deployment

VLLM_STATUS: dict[int, type[ApiError]] = {
    400: BadRequestError,
    404: NotFoundError,
    413: PayloadTooLargeError,
    422: ValidationError,
    429: RateLimitError,
}


def openai_result(data: Any, dep: Deployment) -> Any:
    """The OpenAI body, or the error a worker returned with HTTP 200 raised as a proper one."""
    if isinstance(data, list) and len(data) == 1 and isinstance(data[0], dict):
        data = data[0]  # a one-item output list: what a generator handler's aggregation looks like
    error = vllm_error(data, dep)
    if error is not None:
        raise error
    return data


def vllm_error(data: Any, dep: Deployment) -> ApiError | None:
    if not isinstance(data, dict):
        return None
    if data.get("status") == "FAILED":  # a Runpod job view: the handler itself failed
        return BadGatewayError(
            f"The vLLM worker failed: {_text(data.get('error'))}"[:1000], {"deployment_id": dep.deployment_id}
        )
    if data.get("object") == "error":
        err: Any = data
    elif "error" in data and "choices" not in data:
        err = data["error"]
    else:
        return None
    if isinstance(err, dict):
        message, kind, code = _text(err.get("message")), err.get("type"), err.get("code")
    else:
        message, kind, code = _text(err), None, None
    status = code if isinstance(code, int) else _int(code)
    details = {"deployment_id": dep.deployment_id, "upstream": "vllm", "type": kind, "code": code}
    cls = VLLM_STATUS.get(status or 0)
    if cls is None:
        return BadGatewayError(f"The vLLM worker failed: {message}"[:1000], details)
    return cls(f"vLLM: {message}"[:1000], details)


def first_event_error(head: bytes, dep: Deployment) -> ApiError | None:
    """The error a stream's first event carries, if it is one (vLLM refuses before it streams)."""
    data = first_data(head)
    if data is None or data.strip() == "[DONE]":
        return None
    try:
        parsed = json.loads(data)
    except (ValueError, RecursionError):
        return None
    return vllm_error(parsed, dep)


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value)[:1000] if value is not None else "unknown error"


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
