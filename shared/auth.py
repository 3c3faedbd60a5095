"""API keys and the per-key rate limit (counted in the store, so it holds across instances)."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

from shared.crypto import same
from shared.errors import RateLimitError, UnauthorizedError
from shared.services import Services
from shared.timeutil import iso, later

RATE_LIMITS = "rate_limits"
WINDOW_SECONDS = 60


@dataclass(frozen=True)
class Principal:
    owner: str  # who owns deployments: never the key itself
    key_hash: str


def key_hash(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


def authenticate(svc: Services, authorization: str | None) -> Principal:
    scheme, _, token = (authorization or "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise UnauthorizedError("Missing or invalid API key")
    digest = key_hash(token)
    for known in svc.settings.api_key_list:
        if same(key_hash(known), digest):
            return Principal(owner=f"key_{digest[:32]}", key_hash=digest)
    raise UnauthorizedError("Missing or invalid API key")


def check_rate(svc: Services, principal: Principal) -> dict[str, str]:
    """Count this request; raise RateLimitError past the limit. Returns the RateLimit headers."""
    limit = svc.settings.rate_limit_per_minute
    now = svc.now()
    window = math.floor(now.timestamp() / WINDOW_SECONDS)
    reset = max(1, math.ceil((window + 1) * WINDOW_SECONDS - now.timestamp()))
    count = svc.store.increment(
        RATE_LIMITS,
        f"{principal.key_hash[:32]}:{window}",
        "count",
        1,
        {"expire_at": iso(later(now, 2 * WINDOW_SECONDS))},
    )
    headers = {
        "RateLimit-Limit": str(limit),
        "RateLimit-Remaining": str(max(0, limit - count)),
        "RateLimit-Reset": str(reset),
        "RateLimit-Policy": f"{limit};w={WINDOW_SECONDS}",
    }
    if count > limit:
        raise RateLimitError(
            f"Rate limit of {limit} requests per minute exceeded; retry in {reset}s",
            {"limit": limit, "window_seconds": WINDOW_SECONDS, "retry_after": reset},
            headers={**headers, "Retry-After": str(reset)},
        )
    return headers
