"""OpenAI-compatible calls (chat/completions, completions) through a deployment's vLLM worker.

A stream is answered only once its first event is known not to be an error, so a refusal still
gets its proper status code instead of a 200 whose body is an error.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

from shared.clients.runpod.runtime import EventStream
from shared.proxy.sse import peek_first_event, relay
from shared.proxy.upstream import connect, upstream_errors
from shared.proxy.vllm_errors import first_event_error, openai_result
from shared.schemas.stored import Deployment
from shared.services import Services


@dataclass
class Stream:
    """An upstream SSE answer whose first event was checked; iterate it once, it closes itself."""

    chunks: Iterator[bytes]
    headers: dict[str, str] = field(default_factory=dict)


def complete(svc: Services, dep: Deployment, path: str, body: dict[str, Any]) -> Any:
    """The worker's OpenAI answer to `body` on `path` (e.g. "chat/completions")."""
    with connect(svc, dep) as runtime, upstream_errors(dep):
        data = runtime.openai(path, body, timeout=svc.settings.inference_timeout_seconds)
    return openai_result(data, dep)


def complete_stream(svc: Services, dep: Deployment, path: str, body: dict[str, Any]) -> Stream | Any:
    """A Stream, or the decoded body when the worker answered with plain JSON instead of SSE."""
    with ExitStack() as cleanup:  # closes the answer and the client unless the Stream takes them over
        runtime = cleanup.enter_context(connect(svc, dep))
        with upstream_errors(dep):
            answer = runtime.openai_stream(path, body, read_timeout=svc.settings.inference_timeout_seconds)
        if not isinstance(answer, EventStream):
            return openai_result(answer, dep)
        cleanup.callback(answer.close)
        with upstream_errors(dep):
            head = peek_first_event(answer.chunks)
        error = first_event_error(head, dep)
        if error is not None:
            raise error
        return Stream(relay(head, answer.chunks, cleanup.pop_all().close))
