"""WebhookReceiver: records every POST and answers with scripted statuses (200 once the script runs out).

For answers that depend on what arrived, set `answer` to a function of the parsed body returning a status
(it is asked only when the `responses` script is empty).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from tests.fakes.base import FakeServer, RecordedRequest, Response

RESET = 0  # put in `responses` to drop the connection instead of answering


class WebhookReceiver(FakeServer):
    def __init__(self, responses: list[int] | None = None) -> None:
        super().__init__()
        self.responses: list[int] = list(responses or [])  # consumed in order, one per POST
        self.answer: Callable[[Any], int] | None = None

    @property
    def received(self) -> list[RecordedRequest]:
        with self.lock:
            return [r for r in self.requests if r.method == "POST"]

    def url(self, path: str = "/hook") -> str:
        return self.base_url + path

    def handle(self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: Any) -> Response:
        if method != "POST":
            return Response(405, {"error": "POST only"}, headers={"Allow": "POST"})
        with self.lock:
            status = self.responses.pop(0) if self.responses else None
        if status is None:
            status = self.answer(body) if self.answer is not None else 200
        if status == RESET:
            return Response.connection_reset()
        return Response(status, {"ok": status < 400})

    def by_event(self, event: str) -> list[RecordedRequest]:
        return [r for r in self.received if isinstance(r.json, dict) and r.json.get("event") == event]

    def events(self) -> list[str]:
        return [r.json["event"] for r in self.received if isinstance(r.json, dict) and "event" in r.json]

    def wait_for(
        self, predicate: Callable[[RecordedRequest], bool] = lambda r: True, timeout: float = 10.0
    ) -> RecordedRequest:
        """The first received POST matching `predicate`, polling until `timeout` seconds have passed."""
        deadline = time.monotonic() + timeout
        while True:
            received = self.received
            for request in received:
                if predicate(request):
                    return request
            if time.monotonic() >= deadline:
                seen = "\n".join(f"  {r.path} {json.dumps(r.json)[:200]}" for r in received) or "  (nothing)"
                raise AssertionError(f"no matching webhook within {timeout}s; received {len(received)}:\n{seen}")
            time.sleep(0.02)

    def wait_for_event(self, event: str, timeout: float = 10.0) -> RecordedRequest:
        return self.wait_for(lambda r: isinstance(r.json, dict) and r.json.get("event") == event, timeout)
