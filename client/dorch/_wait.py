"""The state `wait()` keeps while it follows a deployment (see `_flows.wait`).

The `Tracker` takes GET snapshots and SSE events (`log`, `status`, `done`), remembers the last event id
for a resume, tells when a status change calls for a fresh GET (for the step and the ETA), reports
`Progress`, and decides how the wait ends. `Deadline` bounds it; `Reconnects` decides when a stream that
keeps dropping without news gives way to polling.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from httpx_sse import ServerSentEvent

from dorch.errors import ConnectionFailed, DeploymentFailed, DorchError, WaitTimeout
from dorch.types import LogLine, Progress, parse_time

READY = frozenset({"ready", "webhook_failed", "paused"})
FAILED = "failed"
GONE = frozenset({"deleting", "deleted", "cleanup_failed"})
MAX_SILENT_DROPS = 3  # connections in a row that ended without one new event before polling instead

ProgressCallback = Callable[[Progress], None]


class Tracker:
    """A deployment's state as `wait()` sees it: GET snapshots merged with the stream's events."""

    def __init__(self, deployment_id: str, on_progress: ProgressCallback | None) -> None:
        self.deployment_id = deployment_id
        self.data: dict[str, Any] = {}
        self.last_event_id: str | None = None
        self.needs_refresh = False
        self._on_progress = on_progress
        self._reported: tuple[Any, ...] | None = None

    @property
    def status(self) -> str:
        return str(self.data.get("status", ""))

    @property
    def finished(self) -> bool:
        return self.status in READY or self.status == FAILED or self.status in GONE

    def snapshot(self, data: dict[str, Any]) -> None:
        """A deployment as GET returns it."""
        message = self.data.get("message")
        self.data = {**data, "message": data.get("message", message)}
        self.needs_refresh = False
        self._report(None)

    def event(self, event: ServerSentEvent) -> bool:
        """One SSE event; True when it carried news (anything but a keep-alive)."""
        if event.id:
            self.last_event_id = event.id
        if event.event not in ("log", "status", "done") or not event.data:
            return False
        payload = json.loads(event.data)
        if event.event == "log":
            self._report(LogLine.from_json(payload))
            return True
        changed = payload.get("status") != self.status
        self.data.update({k: payload[k] for k in ("status", "phase", "progress", "message", "error") if k in payload})
        if "endpoint_url" in payload:
            self.data["endpoint_url"] = payload["endpoint_url"]
        self.needs_refresh = changed
        if not changed:
            self._report(None)
        return True

    def outcome(self) -> None:
        """Return when ready (or paused); raise DeploymentFailed when it failed or is being deleted."""
        if self.status in READY:
            return
        error = _dict(self.data.get("error"))
        if self.status == FAILED:
            raise DeploymentFailed(
                self.deployment_id,
                str(error.get("code") or "failed"),
                str(error.get("message") or "the deployment failed"),
                error.get("step"),
                bool(error.get("retryable")),
            )
        raise DeploymentFailed(self.deployment_id, "deleted", f"the deployment is {self.status}")

    def progress(self, log: LogLine | None = None) -> Progress:
        steps = self.data.get("steps") or []
        step = steps[-1].get("name") if steps and isinstance(steps[-1], dict) else None
        return Progress(
            status=self.status,
            phase=self.data.get("phase"),
            progress=self.data.get("progress"),
            message=self.data.get("message"),
            step=step,
            eta=None if self.finished else parse_time(self.data.get("estimated_ready_at")),
            log=log,
        )

    def _report(self, log: LogLine | None) -> None:
        if self._on_progress is None:
            return
        current = self.progress(log)
        key = (current.status, current.phase, current.progress, current.message, current.step)
        if log is None and key == self._reported:
            return
        self._reported = key
        self._on_progress(current)


class Deadline:
    def __init__(self, timeout: float | None) -> None:
        self._end = None if timeout is None else time.monotonic() + timeout
        self._timeout = timeout

    def remaining(self) -> float | None:
        return None if self._end is None else max(0.0, self._end - time.monotonic())

    def check(self, deployment_id: str, status: str) -> None:
        if self._end is not None and time.monotonic() >= self._end:
            raise WaitTimeout(f"deployment {deployment_id} still {status} after {self._timeout:g} s")

    def cap(self, seconds: float) -> float:
        left = self.remaining()
        return seconds if left is None else min(seconds, left)


class Reconnects:
    """After a dropped stream: reconnect at once while streams bring news, back off while they don't,
    and poll instead after MAX_SILENT_DROPS silent ones."""

    def __init__(self) -> None:
        self.silent = 0
        self.polling = False

    def dropped(self, had_news: bool) -> float:
        """Seconds to wait before reconnecting (or polling, if `polling` is now set)."""
        self.silent = 0 if had_news else self.silent + 1
        if self.silent > MAX_SILENT_DROPS:
            self.polling = True
        return 0.0 if had_news else min(0.5 * self.silent, 2.0)

    def after_log_stream(self, had_news: bool, error: DorchError | None) -> float:
        """Like `dropped`, for a followed log (which has no polling to fall back on): raise instead."""
        pause = self.dropped(had_news)
        if self.polling:
            raise error or ConnectionFailed("the log stream keeps ending without news")
        return pause


def log_cursor(lines: list[LogLine]) -> str | None:
    """The stream event id of the last of `lines` (fetched with GET .../logs), to follow on from it."""
    if not lines or not lines[-1].id:
        return None
    return f"{lines[-1].raw.get('timestamp')}/{lines[-1].id}"


def deletion_outcome(deployment_id: str, data: dict[str, Any]) -> bool:
    """True once a deleted deployment's endpoint is verified gone; raises if the cleanup failed."""
    status = data.get("status")
    if status == "cleanup_failed":
        deletion = _dict(data.get("deletion"))
        raise DeploymentFailed(deployment_id, "cleanup_failed", str(deletion.get("error") or "the cleanup failed"))
    return status == "deleted"


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
