"""FaultyProxy: a small HTTP proxy between the SDK and the real server that misbehaves on cue.

It forwards every request as is, streaming answers (SSE) through chunk by chunk, and records what
arrived (with the arrival time). Scripted faults, each used once:
- `cut_next_stream(after_events, reset)`: pass that many SSE events of the next event stream, then drop the
  connection (a TCP reset, or a clean close that just ends the body);
- `answer_next(method, path_prefix, status, headers)`: answer instead of forwarding (429, 503, ...);
- `lose_next_answer(method, path_prefix)`: forward the request, so the server acts on it, then reset the
  connection before the answer reaches the client.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import TCPServer
from typing import Any

import httpx

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "te", "trailer", "upgrade", "host"}


@dataclass
class Arrival:
    method: str
    path: str  # with the query string
    headers: dict[str, str]
    at: float


@dataclass
class _Answer:
    method: str
    prefix: str
    status: int
    headers: dict[str, str]


@dataclass
class FaultyProxy:
    upstream: str
    arrivals: list[Arrival] = field(default_factory=list)
    cut_log: list[str] = field(default_factory=list)  # the last event id passed before each cut
    _answers: list[_Answer] = field(default_factory=list)
    _lose: list[tuple[str, str]] = field(default_factory=list)
    _cuts: list[tuple[int, bool]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._http = httpx.Client(base_url=self.upstream, timeout=httpx.Timeout(30, read=120))
        self._server = _Server(("127.0.0.1", 0), _Handler, self)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._http.close()

    # ---- scripting ----

    def cut_next_stream(self, after_events: int, reset: bool = True) -> None:
        with self._lock:
            self._cuts.append((after_events, reset))

    def answer_next(self, method: str, prefix: str, status: int, headers: dict[str, str] | None = None) -> None:
        with self._lock:
            self._answers.append(_Answer(method, prefix, status, headers or {}))

    def lose_next_answer(self, method: str, prefix: str) -> None:
        with self._lock:
            self._lose.append((method, prefix))

    def to(self, method: str, prefix: str) -> list[Arrival]:
        with self._lock:
            return [a for a in self.arrivals if a.method == method and a.path.startswith(prefix)]

    # ---- serving (the server's threads) ----

    def _take(self, items: list[Any], match: Any) -> Any:
        with self._lock:
            for item in items:
                if match(item):
                    items.remove(item)
                    return item
        return None

    def serve(self, h: _Handler) -> None:
        body = h.rfile.read(int(h.headers.get("Content-Length") or 0))
        arrival = Arrival(h.command, h.path, {k.lower(): v for k, v in h.headers.items()}, time.monotonic())
        with self._lock:
            self.arrivals.append(arrival)
        scripted = self._take(self._answers, lambda a: a.method == h.command and h.path.startswith(a.prefix))
        if scripted is not None:
            payload = json.dumps({"error": "ScriptedError", "message": f"scripted {scripted.status}", "details": {}})
            h.send(scripted.status, {"Content-Type": "application/json", **scripted.headers}, payload.encode())
            return
        lose = self._take(self._lose, lambda m: m[0] == h.command and h.path.startswith(m[1]))
        headers = {k: v for k, v in h.headers.items() if k.lower() not in HOP_BY_HOP}
        request = self._http.build_request(h.command, h.path, headers=headers, content=body)
        upstream = self._http.send(request, stream=True)
        try:
            self._answer(h, upstream, lose is not None)
        finally:
            upstream.close()

    def _answer(self, h: _Handler, upstream: httpx.Response, lose: bool) -> None:
        if lose:
            upstream.read()
            h.reset()
            return
        out_headers = {k: v for k, v in upstream.headers.items() if k.lower() not in HOP_BY_HOP | {"content-encoding"}}
        if not upstream.headers.get("content-type", "").startswith("text/event-stream"):
            h.send(upstream.status_code, out_headers, upstream.read())
            return
        cut = self._take(self._cuts, lambda c: True)
        h.start(upstream.status_code, out_headers)
        self._relay_events(h, upstream, cut)

    def _relay_events(self, h: _Handler, upstream: httpx.Response, cut: tuple[int, bool] | None) -> None:
        buffer, passed, last_id = b"", 0, ""
        for chunk in upstream.iter_raw():
            buffer += chunk
            while b"\n\n" in buffer:
                block, buffer = buffer.split(b"\n\n", 1)
                if not h.write(block + b"\n\n"):
                    return
                if b"data:" not in block:
                    continue
                passed += 1
                last_id = next((x[3:].strip().decode() for x in block.split(b"\n") if x.startswith(b"id:")), last_id)
                if cut is not None and passed >= cut[0]:
                    with self._lock:
                        self.cut_log.append(last_id)
                    h.reset() if cut[1] else h.close()
                    return


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[_Handler], proxy: FaultyProxy) -> None:
        self.proxy = proxy
        super().__init__(address, handler)

    def server_bind(self) -> None:
        TCPServer.server_bind(self)  # skip getfqdn()
        self.server_name, self.server_port = "127.0.0.1", self.server_address[1]

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that hang up, and the connections we cut on purpose


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # every answer ends with the connection: no keep-alive to get wrong
    server: _Server

    def do_GET(self) -> None:
        self.server.proxy.serve(self)

    do_POST = do_PUT = do_DELETE = do_PATCH = do_GET

    def send(self, status: int, headers: dict[str, str], payload: bytes) -> None:
        self.start(status, {**headers, "Content-Length": str(len(payload))})
        self.write(payload)

    def start(self, status: int, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Connection", "close")
        self.end_headers()

    def write(self, data: bytes) -> bool:
        try:
            self.wfile.write(data)
            self.wfile.flush()
            return True
        except OSError:
            return False

    def close(self) -> None:
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def reset(self) -> None:
        """Drop the connection with a TCP reset (SO_LINGER 0), as a broken network would."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:
        pass
