"""The SDK's multi-request procedures, written once for both clients.

A flow is a generator that yields *effects* (send this call, sleep, open an event stream, read its next
event, close it) and gets each one's result back; it also yields *results* (log lines, deployments,
tokens) for its caller. `Transport.iterate` and `AsyncTransport.iterate` carry the effects out, blocking
or awaited; an error an effect raises is thrown into the flow at its `yield`, so flows handle failures
with plain try/except.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Generator, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from dorch import _routes as routes
from dorch._http import STREAM_READ_TIMEOUT, Call
from dorch._wait import Deadline, ProgressCallback, Reconnects, Tracker, deletion_outcome, log_cursor
from dorch.errors import (
    Conflict,
    ConnectionFailed,
    DorchError,
    RateLimited,
    ServerError,
    TaskFailed,
    WaitTimeout,
    parse_retry_after,
)
from dorch.types import LogLine, Task, chat_deltas


@dataclass(frozen=True)
class Effect:
    """Something a flow asks its transport to do."""


@dataclass(frozen=True)
class Send(Effect):
    call: Call  # result: the parsed answer


@dataclass(frozen=True)
class Sleep(Effect):
    seconds: float


@dataclass(frozen=True)
class Open(Effect):
    call: Call  # opens the flow's event stream (closing the one before); result: None


@dataclass(frozen=True)
class Next(Effect):
    """Result: the stream's next event, or None once it has ended."""


@dataclass(frozen=True)
class Close(Effect):
    """Close the flow's event stream."""


Flow = Generator[Any, Any, None]
START_PATIENCE = 30.0  # seconds a task's start is retried while the deployment finishes a step


@dataclass
class Outcome:
    """What carrying out an effect gave: its result, or the error it raised."""

    value: Any = None
    error: DorchError | None = None


class Stepper:
    """Advances a flow: iterating gives its effects and results; `settle` hands it an effect's outcome
    (an error is thrown into the flow where it yielded the effect)."""

    def __init__(self, flow: Flow) -> None:
        self.flow = flow
        self._outcome = Outcome()

    def __iter__(self) -> Iterator[Any]:
        try:
            while True:
                outcome, self._outcome = self._outcome, Outcome()
                if outcome.error is not None:
                    yield self.flow.throw(outcome.error)
                else:
                    yield self.flow.send(outcome.value)
        except StopIteration:
            return
        finally:
            self.flow.close()

    def settle(self, outcome: Outcome) -> None:
        self._outcome = outcome


def wait(deployment_id: str, timeout: float | None, on_progress: ProgressCallback | None, poll: float) -> Flow:
    """Follow a deployment until it settles; yields its `Tracker` once, at the end (see `Deployment.wait`)."""
    deadline = Deadline(timeout)
    tracker = Tracker(deployment_id, on_progress)
    tracker.snapshot((yield Send(routes.get(deployment_id))))
    reconnects = Reconnects()
    while not tracker.finished:
        deadline.check(deployment_id, tracker.status)
        if reconnects.polling:
            yield Sleep(deadline.cap(poll))
            tracker.snapshot((yield Send(routes.get(deployment_id))))
            continue
        call = routes.log_stream(deployment_id, tracker.last_event_id, follow=False)
        news = False
        try:
            yield Open(dataclasses.replace(call, timeout=deadline.cap(STREAM_READ_TIMEOUT) or 0.001))
            while (event := (yield Next())) is not None:  # to `done`: the last lines come after the status
                news = tracker.event(event) or news
                if tracker.needs_refresh:
                    tracker.snapshot((yield Send(routes.get(deployment_id))))
                if event.event == "done":
                    break
                deadline.check(deployment_id, tracker.status)
        except (RateLimited, ServerError):  # no stream slot free: polling costs one request a period
            reconnects.polling = True
        except ConnectionFailed:  # dropped: resume after the last event seen
            deadline.check(deployment_id, tracker.status)
        yield Close()
        if not tracker.finished and not reconnects.polling:
            yield Sleep(deadline.cap(reconnects.dropped(news)))
    yield tracker


def logs(deployment_id: str, follow: bool, tail: int | None) -> Flow:
    """Yields log lines: the last `tail`; with `follow`, then every new one until the deployment is deleted,
    resuming after a dropped stream with the last event id."""
    cursor = None
    if tail or not follow:
        lines = [LogLine.from_json(x) for x in (yield Send(routes.logs(deployment_id, tail))).get("data", [])]
        yield from lines
        cursor = log_cursor(lines)
    reconnects = Reconnects()
    while follow:
        news, dropped = False, None
        try:
            yield Open(routes.log_stream(deployment_id, cursor, follow=True))
            while (event := (yield Next())) is not None:
                cursor = event.id or cursor
                if event.event == "done":
                    return
                if event.event == "log":
                    news = True
                    yield LogLine.from_json(json.loads(event.data))
        except (ConnectionFailed, RateLimited) as exc:
            dropped = exc
        yield Close()
        retry_after = dropped.retry_after if isinstance(dropped, RateLimited) else None
        yield Sleep(max(reconnects.after_log_stream(news, dropped), retry_after or 0.0))


def delete(deployment_id: str, wait: bool, timeout: float | None, poll: float) -> Flow:
    """Delete; with `wait`, poll until the endpoint is verified gone. Yields the last state seen (or None)."""
    yield Send(routes.delete(deployment_id))
    deadline = Deadline(timeout)
    data = None
    while wait:
        data = yield Send(routes.get(deployment_id))
        if deletion_outcome(deployment_id, data):
            break
        deadline.check(deployment_id, str(data.get("status")))
        yield Sleep(deadline.cap(poll))
    yield data


def task(started: Call, wait: bool, timeout: float | None, poll: float) -> Flow:
    """Start a task (an update or a rollback) or look one up; with `wait`, poll it until it finishes.
    Yields the last `Task` seen; raises TaskFailed when it failed, WaitTimeout after `timeout` seconds
    (it goes on server-side)."""
    deadline = Deadline(timeout)
    current = Task.from_json((yield from _start(started, Deadline(START_PATIENCE))))
    while wait and not current.finished:
        if deadline.remaining() == 0:
            raise WaitTimeout(f"task {current.task_id} still {current.status} after {timeout:g} s")
        yield Sleep(deadline.cap(poll))
        current = Task.from_json((yield Send(routes.task(current.task_id))))
    if wait and current.status == "failed":
        error = current.error or {}
        raise TaskFailed(current.task_id, str(error.get("code") or "failed"), str(error.get("message") or "failed"))
    yield current


def _start(call: Call, patience: Deadline) -> Generator[Any, Any, Any]:
    """Send the call that starts a task; a 409 with Retry-After (the deployment is finishing a step, as
    right after it became ready) is retried for up to START_PATIENCE seconds: nothing was started."""
    while True:
        try:
            return (yield Send(call))
        except Conflict as exc:
            pause = parse_retry_after(exc.headers.get("retry-after"))
            if pause is None or patience.remaining() == 0:
                raise
            yield Sleep(patience.cap(pause))


def pages(status: str | None, model: str | None, page_size: int) -> Flow:
    """Yields every deployment summary, page after page (the next page only when asked for)."""
    cursor: str | None = None
    while True:
        body = yield Send(routes.page(status, model, cursor, page_size))
        yield from body["data"]
        cursor = body.get("next_cursor")
        if not cursor:
            return


def chat_stream(model: str, messages: list[dict[str, Any]], params: Mapping[str, Any]) -> Flow:
    """Yields the text of each streamed chat chunk."""
    yield Open(routes.chat(model, messages, True, params))
    while (event := (yield Next())) is not None and event.data != "[DONE]":
        yield from chat_deltas(json.loads(event.data))
    yield Close()
