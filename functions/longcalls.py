"""Caps on long-lived requests (SSE log streams, runsync, the OpenAI proxy).

Each may hold a server thread for minutes. Per process, at most `LONG_REQUESTS_PER_TENANT` of them
per tenant (429 with Retry-After beyond) and `LONG_REQUESTS_MAX` in all (503 with Retry-After), below
the server's thread count, so short requests, other tenants and the local task dispatcher always find a
free thread. On Cloud Run each instance has its own concurrency, so the caps hold per instance.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from flask import Response

from shared.platform.errors import RateLimitError, ServiceUnavailableError
from shared.services import Services

RETRY_AFTER_SECONDS = 5


class LongRequests:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._total = 0
        self._by_tenant: dict[str, int] = {}

    def acquire(self, tenant: str, per_tenant: int, total: int) -> Callable[[], None]:
        """A slot for one long request; the returned function frees it (once, however often called)."""
        headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
        with self._lock:
            held = self._by_tenant.get(tenant, 0)
            if held >= per_tenant:
                raise RateLimitError(
                    f"At most {per_tenant} long-lived requests (log streams, runsync, completions) at once "
                    "per tenant; close one or retry later",
                    {"limit": per_tenant, "kind": "long_requests"},
                    headers=headers,
                )
            if self._total >= total:
                raise ServiceUnavailableError(
                    "The server is busy with long-lived requests; retry later",
                    {"kind": "long_requests"},
                    headers=headers,
                )
            self._by_tenant[tenant] = held + 1
            self._total += 1
        released = threading.Event()

        def release() -> None:
            with self._lock:
                if released.is_set():
                    return
                released.set()
                self._total -= 1
                left = self._by_tenant[tenant] - 1
                if left:
                    self._by_tenant[tenant] = left
                else:
                    del self._by_tenant[tenant]

        return release


SLOTS = LongRequests()


def held(svc: Services, tenant: str, make: Callable[[], Response]) -> Response:
    """`make()`'s response, holding a long-request slot until the response is closed (streamed out)."""
    release = SLOTS.acquire(tenant, svc.settings.long_requests_per_tenant, svc.settings.long_requests_max)
    try:
        response = make()
    except BaseException:
        release()
        raise
    response.call_on_close(release)
    return response
