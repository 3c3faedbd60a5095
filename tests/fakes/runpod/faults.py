"""What can go wrong at the fake Runpod: random faults (`FaultPlan`), the answer of an injected fault,
and requests held until the test lets them go (`Hold`)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from tests.fakes.base import Response

FAULT_KINDS = ("status", "reset", "timeout", "lost_create")


@dataclass
class FaultPlan:
    """Random faults, rates in [0, 1] (their sum at most 1); one seeded draw per request."""

    error_5xx: float = 0.0
    rate_limit_429: float = 0.0
    timeout: float = 0.0  # sleep `timeout_seconds` without doing the work, then answer 504
    reset: float = 0.0  # reset the connection without doing the work
    lost_create: float = 0.0  # POST /v2/serverless only: create the endpoint, then reset the connection
    seed: int = 0
    error_status: int = 503
    retry_after_seconds: float = 1
    timeout_seconds: float = 3.0

    def __post_init__(self) -> None:
        rates = self.rates()
        if any(not 0.0 <= r <= 1.0 for r in rates.values()) or sum(rates.values()) > 1.0:
            raise ValueError(f"fault rates must be in [0, 1] and sum to at most 1: {rates}")

    def rates(self) -> dict[str, float]:
        return {
            "error_5xx": self.error_5xx,
            "rate_limit_429": self.rate_limit_429,
            "timeout": self.timeout,
            "reset": self.reset,
            "lost_create": self.lost_create,
        }


@dataclass
class Hold:
    """A request held by `FakeRunpod.hold_next` until `release()` (or `max_seconds`, so a test never hangs)."""

    method: str
    prefix: str
    after: bool
    max_seconds: float = 30.0
    arrived: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)

    def wait(self) -> None:
        self.arrived.set()
        self.released.wait(self.max_seconds)

    def release(self) -> None:
        self.released.set()


@dataclass(frozen=True)
class InjectedFault:
    kind: str
    response: Response


def seconds_header(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)
