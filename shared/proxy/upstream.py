"""A deployment's Runpod endpoint as the proxy reaches it: a runtime client with the tenant's key,
and Runpod's faults turned into the product's errors for the caller.

Callers use their API key only; the tenant's Runpod key is decrypted here for each request. Every
upstream failure becomes one of the product's errors ({"error": "<Name>Error", "message", "details"}).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from shared.accounts.credentials import deployment_key
from shared.clients.header_tokens import header_safe
from shared.clients.runpod import RunpodConfig, RunpodError
from shared.clients.runpod.runtime import RuntimeClient
from shared.platform.crypto import CryptoError
from shared.platform.errors import (
    ApiError,
    BadGatewayError,
    BadRequestError,
    ConflictError,
    GatewayTimeoutError,
    InternalError,
    NotFoundError,
    PayloadTooLargeError,
    RateLimitError,
)
from shared.schemas.stored import Deployment
from shared.services import Services


def connect(svc: Services, dep: Deployment) -> RuntimeClient:
    """The runtime client of the deployment's endpoint, with its tenant's key; close it when done."""
    try:
        key = deployment_key(svc, dep)
    except CryptoError:
        raise InternalError("The deployment's stored Runpod key cannot be decrypted") from None
    if not header_safe(key):
        raise ConflictError(
            "The deployment's Runpod key holds characters no HTTP header can carry; give it a new one "
            f"(POST /v1/deployments/{dep.deployment_id}/credential)",
            {"deployment_id": dep.deployment_id},
        )
    s = svc.settings
    config = RunpodConfig(s.runpod_api_base, s.runpod_runtime_base, s.http_timeout_seconds)
    return RuntimeClient(key, config, dep.runpod_endpoint_id or "", svc.sandbox_http(key, dep.owner))


@contextmanager
def upstream_errors(dep: Deployment, job_id: str | None = None) -> Iterator[None]:
    """Raise the RunpodErrors of the calls inside as the caller's errors (`job_id`: a 404 is that job's)."""
    try:
        yield
    except RunpodError as exc:
        raise caller_error(exc, dep, job_id) from None


def caller_error(exc: RunpodError, dep: Deployment, job_id: str | None = None) -> ApiError:
    """What the caller sees of a Runpod fault: 502/504 for Runpod's own trouble, the status it means otherwise."""
    status = exc.status
    if status is None:  # no answer at all
        cls = GatewayTimeoutError if exc.kind == "timeout" else BadGatewayError
        return cls(exc.message, {"deployment_id": dep.deployment_id})
    if exc.kind == "invalid_response":
        return BadGatewayError(exc.message, {"upstream_status": status})
    details: dict[str, Any] = {"deployment_id": dep.deployment_id, "upstream_status": status}
    if exc.detail:
        details["upstream_message"] = exc.detail
    if exc.kind in ("unauthorized", "forbidden"):
        return BadGatewayError(f"Runpod refused this deployment's stored API key ({status})", details)
    if exc.kind == "not_found":
        if job_id is not None:
            return NotFoundError(f"Job {job_id} not found", {**details, "job_id": job_id})
        return BadGatewayError("Runpod does not know this deployment's endpoint (404)", details)
    if exc.kind == "too_large":
        return PayloadTooLargeError(exc.message, details)
    if exc.kind == "rate_limited":
        retry = str(math.ceil(exc.retry_after)) if exc.retry_after is not None else "1"  # whole seconds
        return RateLimitError("Runpod's rate limit for this endpoint was reached", details, {"Retry-After": retry})
    if exc.kind == "timeout":
        return GatewayTimeoutError(exc.message, details)
    if exc.kind == "unavailable":
        return BadGatewayError(exc.message, details)
    refused = f"Runpod refused the request ({status}){': ' + exc.detail if exc.detail else ''}"
    return BadRequestError(refused, details)
