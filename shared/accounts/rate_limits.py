"""Rate limits counted in the store, so they hold across instances and processes: requests per API key,
and failed authentications per client address (a guessing client is stopped for the rest of the minute)."""

from __future__ import annotations

import hashlib
import math
from datetime import datetime

from shared.accounts.expiry import prune_expired
from shared.accounts.tenants import Principal
from shared.accounts.tiers import requests_per_minute
from shared.platform.clock import iso, later
from shared.platform.errors import RateLimitError
from shared.services import Services

RATE_LIMITS = "rate_limits"
WINDOW_SECONDS = 60


def _window(now: datetime) -> tuple[int, int]:
    """(this minute's number, seconds until the next one)."""
    window = math.floor(now.timestamp() / WINDOW_SECONDS)
    return window, max(1, math.ceil((window + 1) * WINDOW_SECONDS - now.timestamp()))


def _count(svc: Services, doc_id: str, now: datetime) -> int:
    count = svc.store.increment(RATE_LIMITS, doc_id, "count", 1, {"expire_at": iso(later(now, 2 * WINDOW_SECONDS))})
    if count == 1:  # a new counter row, about once per key a minute: drop the expired ones
        prune_expired(svc, RATE_LIMITS)
    return count


def _rate_id(principal: Principal, window: int) -> str:
    return f"{principal.key_hash[:32]}:{window}"


def recently_used(svc: Services, principal: Principal) -> bool:
    """The key made a counted request this minute or the last (its rate-limit counters exist)."""
    window, _ = _window(svc.now())
    return any(svc.store.get(RATE_LIMITS, _rate_id(principal, w)) for w in (window, window - 1))


def check_rate(svc: Services, principal: Principal) -> dict[str, str]:
    """Count this request; raise RateLimitError past the tier's limit. Returns the RateLimit headers."""
    limit = requests_per_minute(svc, principal.tier)
    now = svc.now()
    window, reset = _window(now)
    count = _count(svc, _rate_id(principal, window), now)
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


def _failures_id(client: str, window: int) -> str:
    return f"authfail:{hashlib.sha256(client.encode()).hexdigest()[:32]}:{window}"


def check_auth_failures(svc: Services, client: str) -> None:
    """429 while `client` is past AUTH_FAILURES_PER_MINUTE failed authentications this minute: checked
    before the credential, so a guesser learns nothing more until the minute ends."""
    limit = svc.settings.auth_failures_per_minute
    now = svc.now()
    window, reset = _window(now)
    doc = svc.store.get(RATE_LIMITS, _failures_id(client, window)) or {}
    if int(doc.get("count", 0)) >= limit:
        raise RateLimitError(
            f"Too many failed authentications from this client; retry in {reset}s",
            {"limit": limit, "window_seconds": WINDOW_SECONDS, "retry_after": reset},
            headers={"Retry-After": str(reset)},
        )


def record_auth_failure(svc: Services, client: str) -> None:
    now = svc.now()
    window, _ = _window(now)
    _count(svc, _failures_id(client, window), now)
