"""The per-key rate limit, counted in the store so that it holds across instances and processes."""

from __future__ import annotations

import math

from shared.errors import RateLimitError
from shared.services import Services
from shared.tenants import Principal
from shared.timeutil import iso, later

RATE_LIMITS = "rate_limits"
WINDOW_SECONDS = 60


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
