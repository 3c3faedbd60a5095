"""`make run` stops promptly on SIGTERM even while a task delivery is waiting on a slow upstream.

Before the fix the process waited for the delivery's dispatch deadline (measured: 99 s).
"""

from __future__ import annotations

import signal
import socket
import threading

from tests.conftest import free_port

SLOW_UPSTREAM_SECONDS = 300  # the delivery in flight would hold the exit this long without the fix


class SilentServer:
    """Accepts connections and never answers: an upstream that hangs."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", free_port()))
        self.port = self.sock.getsockname()[1]
        self.accepted = threading.Event()
        self._conns: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self._conns.append(conn)
            self.accepted.set()

    def close(self) -> None:
        self.sock.close()
        for conn in self._conns:
            conn.close()


def test_sigterm_does_not_wait_for_an_in_flight_delivery(start_server):
    upstream = SilentServer()
    try:
        base = f"http://127.0.0.1:{upstream.port}"
        server = start_server(
            env={
                "HF_ENDPOINT": base,
                "RUNPOD_API_BASE": base,
                "HTTP_TIMEOUT_SECONDS": str(SLOW_UPSTREAM_SECONDS),
                "QUEUE_DISPATCH_DEADLINE_SECONDS": str(SLOW_UPSTREAM_SECONDS),
            }
        )
        created = server.post("/v1/deployments", json={"hf_model_id": "gpt2", "user_runpod_key": "rk_slow_12345"})
        assert created.status_code == 202, created.text
        assert upstream.accepted.wait(30), "the first step never called the upstream"
        server.process.send_signal(signal.SIGTERM)
        server.process.wait(timeout=SLOW_UPSTREAM_SECONDS / 5)  # raises if the exit waited for the delivery
        assert server.process.returncode == 0, server.log()
    finally:
        upstream.close()
