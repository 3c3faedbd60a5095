"""The task queue interface, shaped after Cloud Tasks HTTP targets.

A task is a JSON payload POSTed to the step function. Delivery is at least once; a task name
de-duplicates (enqueueing a name seen before is a no-op); a 2xx answer ends the task, anything
else is retried with backoff, honouring `Retry-After`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Task:
    name: str  # logical, readable name; adapters hash it (Cloud Tasks wants spread-out names)
    payload: dict[str, Any]
    delay_seconds: float = 0.0
    target: str = "step"  # which function receives it: "step" (run_step) or "reconcile"
    headers: dict[str, str] = field(default_factory=dict)


def task_id(name: str) -> str:
    """A stable, evenly spread id for a logical task name."""
    return hashlib.sha256(name.encode()).hexdigest()[:40]


class TaskQueue(Protocol):
    def enqueue(self, task: Task) -> bool:
        """Schedule the task; False when a task of that name already exists (not an error)."""
