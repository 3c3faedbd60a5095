"""A small HTTP server standing in for the step function: records every call, answers as scripted."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    at: float


Answer = tuple[int, dict[str, str]]


class Receiver:
    def __init__(self, answer: Callable[[Call], Answer] = lambda call: (200, {})):
        self.answer = answer
        self.calls: list[Call] = []
        self._cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                call = Call("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body, time.time())
                with receiver._cond:
                    receiver.calls.append(call)
                    receiver._cond.notify_all()
                status, headers = receiver.answer(call)
                self.send_response(status)
                for name, value in {**headers, "Content-Length": "0"}.items():
                    self.send_header(name, value)
                self.end_headers()

            def log_message(self, format, *args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}/internal/steps"

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Call]:
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.calls) >= count, timeout):
                raise AssertionError(f"expected {count} calls, got {len(self.calls)}: {self.calls}")
            return list(self.calls)
