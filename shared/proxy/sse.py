"""Relaying a server-sent events stream: look at its first event before answering, then pass the
bytes on as they come.

Once the first bytes are sent the status code is gone; a stream that breaks later ends with an
error event the client can read.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

from shared.clients.runpod import RunpodError

PEEK_LIMIT = 64 * 1024


def peek_first_event(chunks: Iterator[bytes]) -> bytes:
    """Read until the first event that carries data is complete (or PEEK_LIMIT, or the end)."""
    head = b""
    for chunk in chunks:
        head += chunk
        if first_data(head) is not None or len(head) >= PEEK_LIMIT:
            break
    return head


def first_data(buffer: bytes) -> str | None:
    """The data of the first complete event that has any."""
    text = buffer.replace(b"\r\n", b"\n").decode("utf-8", errors="replace")
    for event in text.split("\n\n")[:-1]:  # complete events only
        lines = [line[5:].lstrip() for line in event.split("\n") if line.startswith("data:")]
        if lines:
            return "\n".join(lines)
    return None


def relay(head: bytes, chunks: Iterator[bytes], close: Callable[[], None]) -> Iterator[bytes]:
    """`head` (what the peek read), then the rest of `chunks`; `close` runs when the stream ends."""
    try:
        if head:
            yield head
        yield from chunks
    except RunpodError as exc:
        # Too late for a status code: end the stream with an error event the client can read.
        event = {"error": {"message": f"upstream stream broke: {exc.message}", "type": "BadGatewayError"}}
        yield f"data: {json.dumps(event)}\n\n".encode()
    finally:
        close()
