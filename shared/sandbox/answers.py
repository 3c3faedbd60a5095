"""The simulated Runpod's answers, as Runpod shapes them (JSON, problem+json errors, server-sent events)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any


@dataclass
class Answer:
    status: int
    body: Any = None  # JSON-able; None: no body
    headers: dict[str, str] = field(default_factory=dict)
    events: Iterable[bytes] | None = None  # a server-sent events body, sent as it is produced


def ok(body: Any, status: int = 200) -> Answer:
    return Answer(status, body)


def problem(status: int, detail: str) -> Answer:
    body = {"title": HTTPStatus(status).phrase, "status": status, "detail": detail}
    return Answer(status, body, {"Content-Type": "application/problem+json"})


def not_found(what: str) -> Answer:
    return problem(404, f"{what} not found")


def sse(events: Iterable[Any], done_marker: bool = False) -> Answer:
    """Each item a `data:` event (JSON-encoded unless bytes); `done_marker` ends with OpenAI's `[DONE]`."""

    def frames() -> Iterator[bytes]:
        for item in events:
            data = item if isinstance(item, bytes) else json.dumps(item).encode()
            yield b"data: " + data + b"\n\n"
        if done_marker:
            yield b"data: [DONE]\n\n"

    headers = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
    return Answer(200, None, headers, frames())
