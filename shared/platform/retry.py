"""One retry policy and one `Retry-After` parser, for every loop in the product that tries again.

The step engine (a step's transient faults), the local task queue (a delivery answered other than
2xx) and the Firestore compare-and-set loop (a lost race) wait the same way: exponential backoff
from `base`, capped at `cap`, scaled by a random factor drawn from `jitter`, never shorter than the
upstream's `Retry-After`, for at most `max_attempts` attempts. Their numbers are settings
(`*_policy` below build each one from them). Webhook deliveries follow their own explicit schedule
(`WEBHOOK_RETRY_SCHEDULE`), a list the user reads, not a formula.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shared.platform.settings import Settings

# 2**64 times any base worth configuring is far past any cap: the exponent stops there, so it never
# overflows a float and the result is the cap, as it would be without the limit.
MAX_DOUBLINGS = 64
# A longer hint is read as a day: every deadline that bounds a retry gives up sooner anyway, and a
# date far out stays within what datetime arithmetic can hold.
MAX_RETRY_AFTER_SECONDS = 86400.0
NO_JITTER = (1.0, 1.0)
FULL_JITTER = (0.0, 1.0)  # anywhere between no wait and the backoff: spreads racing writers apart

Uniform = Callable[[float, float], float]
_DELTA_SECONDS = re.compile(r"\d+(?:\.\d+)?")


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with a cap, jitter, an attempt limit, and `Retry-After` honoured."""

    base: float
    cap: float
    jitter: tuple[float, float] = NO_JITTER  # the backoff is multiplied by a uniform draw in [low, high]
    max_attempts: int | None = None  # None: no limit of its own (a deadline bounds it)

    def __post_init__(self) -> None:
        low, high = self.jitter
        if not (self.base > 0 and self.cap > 0 and 0 <= low <= high):
            raise ValueError(f"invalid retry policy {self}")
        if self.max_attempts is not None and self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")

    def delay(self, attempt: int, retry_after: float | None = None, uniform: Uniform = random.uniform) -> float:
        """Seconds to wait after failed attempt number `attempt` (1 is the first).

        base × 2^(attempt − 1), at most `cap`, times the jitter draw; never less than `retry_after`.
        """
        if attempt < 1:
            raise ValueError("attempts are counted from 1")
        backoff = min(self.cap, self.base * 2.0 ** min(attempt - 1, MAX_DOUBLINGS))
        if self.jitter != NO_JITTER:
            backoff *= uniform(*self.jitter)
        return max(backoff, retry_after or 0.0)

    def exhausted(self, attempt: int) -> bool:
        """True when failed attempt number `attempt` was the last one this policy allows."""
        return self.max_attempts is not None and attempt >= self.max_attempts

    def with_max_attempts(self, max_attempts: int | None) -> RetryPolicy:
        return replace(self, max_attempts=max_attempts)


def symmetric_jitter(fraction: float) -> tuple[float, float]:
    """±`fraction` around the backoff (0.2: between 80% and 120% of it)."""
    return (1.0 - fraction, 1.0 + fraction)


def step_policy(settings: Settings) -> RetryPolicy:
    """A step's transient faults (RETRY_*); cleanup passes CLEANUP_MAX_ATTEMPTS instead."""
    return RetryPolicy(
        base=settings.retry_base_seconds,
        cap=settings.retry_max_seconds,
        jitter=symmetric_jitter(settings.retry_jitter),
        max_attempts=settings.retry_max_attempts,
    )


def store_policy(settings: Settings) -> RetryPolicy:
    """The Firestore compare-and-set loop (STORE_*): short waits, fully jittered, then `Contention`."""
    return RetryPolicy(
        base=settings.store_retry_base_seconds,
        cap=settings.store_retry_max_seconds,
        jitter=FULL_JITTER,
        max_attempts=settings.store_update_attempts,
    )


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header: delta-seconds or an HTTP-date (RFC 9110 10.2.3).

    None when absent or unusable (text, "inf", a negative number); a date in the past is 0; more than
    a day (however many digits) is read as a day. Fractions of a second are accepted, as some servers send them.
    """
    text = (value or "").strip()
    if not text:
        return None
    if _DELTA_SECONDS.fullmatch(text):
        seconds = float(text)
    else:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when.tzinfo is None:  # "-0000": UTC with no claim about the local zone
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return min(max(0.0, seconds), MAX_RETRY_AFTER_SECONDS)
