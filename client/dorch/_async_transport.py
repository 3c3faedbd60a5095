"""The asyncio transport: `Transport`'s twin on httpx.AsyncClient (same retries, errors, streams, flows)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import Any

import httpx
from httpx_sse import ServerSentEvent, aconnect_sse

from dorch._flows import Close, Effect, Flow, Next, Open, Outcome, Send, Sleep, Stepper
from dorch._http import Call, RetryPolicy, Settings, connection_failed, decode, error_for_response
from dorch.errors import ApiError, DorchError


class AsyncTransport:
    def __init__(self, settings: Settings, http: httpx.AsyncClient | None = None) -> None:
        self.settings = settings
        self.retry = RetryPolicy(settings.max_retries, settings.max_retry_wait)
        self._http = http or httpx.AsyncClient(base_url=settings.base_url)
        self._owns_http = http is None

    async def close(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def send(self, call: Call) -> Any:
        """The parsed JSON answer of `call` (None for a 204), after the retries the policy allows."""
        args = self.settings.request_args(call)
        for attempt in itertools.count():
            try:
                return decode(await self._http.request(call.method, call.path, **args))
            except (httpx.TransportError, ApiError) as failure:
                await asyncio.sleep(self.retry.next_delay(call, attempt, failure, self.settings.base_url))
        raise AssertionError("unreachable")

    @asynccontextmanager
    async def events(self, call: Call) -> AsyncIterator[AsyncIterator[ServerSentEvent]]:
        """An SSE stream's events; errors as in `Transport.events`."""
        args = self.settings.request_args(call, stream=True)
        try:
            async with aconnect_sse(self._http, call.method, call.path, **args) as src:
                if src.response.status_code >= 400:
                    await src.response.aread()
                    raise error_for_response(src.response)
                events = _guarded(src.aiter_sse(), call, self.settings.base_url)
                try:
                    yield events
                finally:
                    await events.aclose()
        except httpx.TransportError as exc:
            raise connection_failed(exc, call, self.settings.base_url) from exc

    async def iterate(self, flow: Flow) -> AsyncIterator[Any]:
        """Carry out a flow's effects, awaited; yields its results."""
        step, stream = Stepper(flow), _AsyncStream()
        try:
            for item in step:
                if isinstance(item, Effect):
                    step.settle(await self._do(item, stream))
                else:
                    yield item
        finally:
            await stream.close()
            flow.close()

    async def result(self, flow: Flow) -> Any:
        """A flow's last result."""
        last = None
        async for last in self.iterate(flow):  # noqa: B007 - only the last one is wanted
            pass
        return last

    async def _do(self, effect: Effect, stream: _AsyncStream) -> Outcome:
        try:
            return Outcome(await self._effect(effect, stream))
        except DorchError as error:
            return Outcome(error=error)

    async def _effect(self, effect: Effect, stream: _AsyncStream) -> Any:
        if isinstance(effect, Send):
            return await self.send(effect.call)
        if isinstance(effect, Sleep):
            await asyncio.sleep(effect.seconds)
        elif isinstance(effect, Open):
            await stream.open(self.events(effect.call))
        elif isinstance(effect, Next):
            return await stream.next()
        elif isinstance(effect, Close):
            await stream.close()
        return None


class _AsyncStream:
    """The one event stream a flow has open."""

    def __init__(self) -> None:
        self._stack: AsyncExitStack | None = None
        self._events: AsyncIterator[ServerSentEvent] | None = None

    async def open(self, source: AbstractAsyncContextManager[AsyncIterator[ServerSentEvent]]) -> None:
        await self.close()
        stack = AsyncExitStack()
        self._events = await stack.enter_async_context(source)
        self._stack = stack

    async def next(self) -> ServerSentEvent | None:
        return await anext(self._events, None) if self._events is not None else None

    async def close(self) -> None:
        stack, self._stack, self._events = self._stack, None, None
        if stack is not None:
            await stack.aclose()


async def _guarded(
    events: AsyncIterator[ServerSentEvent], call: Call, base_url: str
) -> AsyncGenerator[ServerSentEvent, None]:
    try:
        async for event in events:
            yield event
    except httpx.TransportError as exc:
        raise connection_failed(exc, call, base_url) from exc
