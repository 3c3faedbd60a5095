"""A tiny real HTTP server for tests: a subclass answers `handle(...)`, the base does the plumbing.

Each fake is a stdlib `ThreadingHTTPServer` on 127.0.0.1 (a free port) in a background thread. The
product under test is pointed at `fake.base_url`; nothing in production code is patched.

Besides plain answers a subclass can ask for a delay (`Response(delay=...)`), an abrupt connection
reset without any answer (`Response.connection_reset()`), or both. "Do the work, then lose the
response" is simply a handler that changes its state and then returns `Response.connection_reset()`.
"""

from __future__ import annotations

import json
import socket
import struct
import sys
import threading
import time
import traceback
from dataclasses import KW_ONLY, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import TCPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str  # as sent, without the query string (still percent-encoded)
    query: dict[str, str]  # last value wins
    headers: dict[str, str]  # names lower-cased
    json: Any  # parsed JSON body; None when the body is empty or not JSON
    body: bytes
    at: float  # time.monotonic() on arrival

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass
class Response:
    status: int = 200
    json: Any = None  # serialised as JSON when not None
    _: KW_ONLY
    body: bytes | None = None  # raw body, used when `json` is None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to sleep before answering (or resetting)
    reset: bool = False  # close the connection without answering (TCP RST)

    @classmethod
    def connection_reset(cls, delay: float = 0.0) -> Response:
        return cls(reset=True, delay=delay)

    def payload(self) -> bytes:
        if self.json is not None:
            return json.dumps(self.json).encode()
        return self.body or b""


class ScriptedFaults:
    """One-shot faults queued by tests (`fail_next`); the first match is consumed. Callers hold the fake's lock."""

    @dataclass
    class Fault:
        method: str  # "*" matches any method
        path_prefix: str  # ending in "$": this exact path only
        kind: str
        remaining: int
        status: int = 503
        retry_after: float | None = None

    def __init__(self) -> None:
        self.pending: list[ScriptedFaults.Fault] = []

    def add(self, fault: ScriptedFaults.Fault) -> None:
        if fault.remaining > 0:
            self.pending.append(fault)

    def take(self, method: str, path: str) -> ScriptedFaults.Fault | None:
        for fault in self.pending:
            exact = fault.path_prefix.endswith("$")
            matches = path == fault.path_prefix[:-1] if exact else path.startswith(fault.path_prefix)
            if fault.method in ("*", method.upper()) and matches:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self.pending.remove(fault)
                return fault
        return None


class FakeServer:
    """Base class: start/stop, `base_url`, a request log, and the dispatch to `handle`."""

    def __init__(self) -> None:
        self.lock = threading.RLock()  # guards every piece of state, here and in subclasses
        self.requests: list[RecordedRequest] = []
        self.errors: list[str] = []  # tracebacks of exceptions raised by `handle` (answered 500)
        self.latency = 0.0  # extra seconds before every answer
        self._port = 0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # ---- to implement ----

    def handle(self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: Any) -> Response:
        """`body` is the parsed JSON, None when empty, or the raw bytes when not JSON."""
        raise NotImplementedError

    # ---- lifecycle ----

    def start(self) -> Self:
        """Listen on a free port; after `stop()`, `start()` again reuses the same port (and base_url)."""
        if self._server is not None:
            return self
        self._server = _Server(("127.0.0.1", self._port), _Handler, self)
        self._port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name=type(self).__name__, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.close_open_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._port

    @property
    def base_url(self) -> str:
        if not self._port:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return f"http://127.0.0.1:{self._port}"

    @property
    def running(self) -> bool:
        return self._server is not None

    # ---- request log ----

    def requests_to(self, method: str | None = None, path_prefix: str = "") -> list[RecordedRequest]:
        with self.lock:
            return [
                r
                for r in self.requests
                if (method is None or r.method == method.upper()) and r.path.startswith(path_prefix)
            ]

    def clear_requests(self) -> None:
        with self.lock:
            self.requests.clear()

    # ---- plumbing (runs on the server's threads) ----

    def _serve(self, h: _Handler) -> None:
        split = urlsplit(h.path)
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length > 0 else b""
        parsed: Any = None
        if raw:
            try:
                parsed = json.loads(raw)
            except ValueError:
                parsed = None
        record = RecordedRequest(
            method=h.command,
            path=split.path,
            query={k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()},
            headers={k.lower(): v for k, v in h.headers.items()},
            json=parsed,
            body=raw,
            at=time.monotonic(),
        )
        with self.lock:
            self.requests.append(record)
        body: Any = parsed if parsed is not None or not raw else raw
        try:
            resp = self.handle(record.method, record.path, record.query, record.headers, body)
            payload = resp.payload()
        except Exception:
            with self.lock:
                self.errors.append(traceback.format_exc())
            resp = Response(500, {"error": f"{type(self).__name__} crashed; see .errors"})
            payload = resp.payload()
        delay = self.latency + resp.delay
        if delay > 0:
            time.sleep(delay)
        if resp.reset:
            h.reset_connection()
            return
        try:
            h.send_response(resp.status)
            headers = {k.lower(): (k, v) for k, v in resp.headers.items()}
            if "content-type" not in headers and payload:
                ctype = "application/json" if resp.json is not None else "application/octet-stream"
                headers["content-type"] = ("Content-Type", ctype)
            if resp.status != 204 and resp.status >= 200:
                headers["content-length"] = ("Content-Length", str(len(payload)))
            for name, value in headers.values():
                h.send_header(name, value)
            h.end_headers()
            if h.command != "HEAD" and resp.status != 204:
                h.wfile.write(payload)
        except OSError:  # the client went away (e.g. it timed out first)
            h.close_connection = True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], handler: type[_Handler], fake: FakeServer):
        self.fake = fake
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls socket.getfqdn(), which can stall on hosts without DNS.
        TCPServer.server_bind(self)
        self.server_name, self.server_port = "127.0.0.1", self.server_address[1]

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_open_connections(self) -> None:
        """Drop kept-alive connections too, so a stopped fake really stops answering."""
        with self._open_lock:
            sockets, self._open = list(self._open), set()
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], OSError):
            return  # resets and clients that hung up are part of the game
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes: avoid 40 ms stalls
    server: _Server

    def do_GET(self) -> None:
        self.server.fake._serve(self)

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_GET

    def reset_connection(self) -> None:
        """Close without answering; SO_LINGER 0 makes the kernel send a RST instead of a FIN."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()  # the fd really closes once rfile/wfile are closed in finish()
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:
        pass
