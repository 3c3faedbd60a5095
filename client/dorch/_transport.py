"""The blocking transport: sends `Call`s with retries and typed errors, streams SSE, and runs flows."""

from __future__ import annotations

import itertools
import time
from collections.abc import Generator, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from typing import Any

import httpx
from httpx_sse import ServerSentEvent, connect_sse

from dorch._flows import Close, Effect, Flow, Next, Open, Outcome, Send, Sleep, Stepper
from dorch._http import Call, RetryPolicy, Settings, connection_failed, decode, error_for_response
from dorch.errors import ApiError, DorchError


class Transport:
    def __init__(self, settings: Settings, http: httpx.Client | None = None) -> None:
        self.settings = settings
        self.retry = RetryPolicy(settings.max_retries, settings.max_retry_wait)
        self._http = http or httpx.Client(base_url=settings.base_url)
        self._owns_http = http is None

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def send(self, call: Call) -> Any:
        """The parsed JSON answer of `call` (None for a 204), after the retries the policy allows."""
        args = self.settings.request_args(call)
        for attempt in itertools.count():
            try:
                return decode(self._http.request(call.method, call.path, **args))
            except (httpx.TransportError, ApiError) as failure:
                time.sleep(self.retry.next_delay(call, attempt, failure, self.settings.base_url))
        raise AssertionError("unreachable")

    @contextmanager
    def events(self, call: Call) -> Iterator[Iterator[ServerSentEvent]]:
        """An SSE stream's events; an error answer raises its typed exception, a connection that fails or
        drops raises ConnectionFailed."""
        try:
            with connect_sse(
                self._http, call.method, call.path, **self.settings.request_args(call, stream=True)
            ) as src:
                if src.response.status_code >= 400:
                    src.response.read()
                    raise error_for_response(src.response)
                events = _guarded(src.iter_sse(), call, self.settings.base_url)
                try:
                    yield events
                finally:
                    events.close()
        except httpx.TransportError as exc:
            raise connection_failed(exc, call, self.settings.base_url) from exc

    def iterate(self, flow: Flow) -> Iterator[Any]:
        """Carry out a flow's effects; yields its results."""
        step, stream = Stepper(flow), _Stream()
        try:
            for item in step:
                if isinstance(item, Effect):
                    step.settle(self._do(item, stream))
                else:
                    yield item
        finally:
            stream.close()
            flow.close()

    def result(self, flow: Flow) -> Any:
        """A flow's last result."""
        last = None
        for last in self.iterate(flow):  # noqa: B007 - only the last one is wanted
            pass
        return last

    def _do(self, effect: Effect, stream: _Stream) -> Outcome:
        try:
            return Outcome(self._effect(effect, stream))
        except DorchError as error:
            return Outcome(error=error)

    def _effect(self, effect: Effect, stream: _Stream) -> Any:
        if isinstance(effect, Send):
            return self.send(effect.call)
        if isinstance(effect, Sleep):
            time.sleep(effect.seconds)
        elif isinstance(effect, Open):
            stream.open(self.events(effect.call))
        elif isinstance(effect, Next):
            return stream.next()
        elif isinstance(effect, Close):
            stream.close()
        return None


class _Stream:
    """The one event stream a flow has open."""

    def __init__(self) -> None:
        self._stack: ExitStack | None = None
        self._events: Iterator[ServerSentEvent] | None = None

    def open(self, source: AbstractContextManager[Iterator[ServerSentEvent]]) -> None:
        self.close()
        stack = ExitStack()
        self._events = stack.enter_context(source)
        self._stack = stack

    def next(self) -> ServerSentEvent | None:
        return next(self._events, None) if self._events is not None else None

    def close(self) -> None:
        stack, self._stack, self._events = self._stack, None, None
        if stack is not None:
            stack.close()


def _guarded(events: Iterator[ServerSentEvent], call: Call, base_url: str) -> Generator[ServerSentEvent, None, None]:
    try:
        yield from events
    except httpx.TransportError as exc:
        raise connection_failed(exc, call, base_url) from exc
