"""Errors the API shows to users, in the seed's shape: {"error": "<Name>Error", "message", "details"}."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    status: int = 400
    name: str = "BadRequestError"

    def __init__(self, message: str, details: dict[str, Any] | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.details = details or {}
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"error": self.name, "message": self.message, "details": self.details}


class BadRequestError(ApiError):
    status, name = 400, "BadRequestError"


class UnauthorizedError(ApiError):
    status, name = 401, "UnauthorizedError"


class ForbiddenError(ApiError):
    status, name = 403, "ForbiddenError"


class TierError(ApiError):
    """The tenant's tier does not include the feature; details name the tier and the tiers that do."""

    status, name = 403, "TierError"


class QuotaExceededError(ApiError):
    """Past one of the tier's quotas; details carry the quota, its limit and the current use."""

    status, name = 403, "QuotaExceededError"


class NotFoundError(ApiError):
    status, name = 404, "NotFoundError"


class DeploymentNotFoundError(ApiError):
    status, name = 404, "DeploymentNotFoundError"


class MethodNotAllowedError(ApiError):
    status, name = 405, "MethodNotAllowedError"


class ConflictError(ApiError):
    status, name = 409, "ConflictError"


class PayloadTooLargeError(ApiError):
    status, name = 413, "PayloadTooLargeError"


class UnsupportedMediaTypeError(ApiError):
    status, name = 415, "UnsupportedMediaTypeError"


class ValidationError(ApiError):
    status, name = 422, "ValidationError"


class RateLimitError(ApiError):
    status, name = 429, "RateLimitError"


class InternalError(ApiError):
    status, name = 500, "InternalError"


class BadGatewayError(ApiError):
    status, name = 502, "BadGatewayError"


class ServiceUnavailableError(ApiError):
    status, name = 503, "ServiceUnavailableError"


class GatewayTimeoutError(ApiError):
    status, name = 504, "GatewayTimeoutError"


class Contention(Exception):
    """A document stayed contended through every retry; callers answer 503 so the client retries."""
