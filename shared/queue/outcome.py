"""What a task handler answers the queue: 2xx ends the task, 503 with `Retry-After` has it retried.

The step runner and the webhook deliveries both speak this contract; the HTTP handler turns an
`Outcome` into the response the queue (Cloud Tasks or the local dispatcher) acts on.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Outcome:
    status: int
    result: str
    retry_after: float | None = None

    def body(self) -> dict[str, str]:
        return {"result": self.result}


def done(result: str) -> Outcome:
    """The task is finished (or pointless now): the queue drops it."""
    return Outcome(200, result)


def not_yet(result: str, seconds: float) -> Outcome:
    """Deliver the task again in about `seconds` (at least one)."""
    return Outcome(503, result, max(1.0, round(seconds, 1)))
