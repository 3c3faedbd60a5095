"""The webhook delivery's connection: it connects only to the public address it has just checked.

Apart from the URL checks (shared.webhooks.ssrf_guard), so that only a delivery imports httpcore.
"""

from __future__ import annotations

import ipaddress
import ssl
from collections.abc import Iterable
from typing import Any

import httpcore

from shared.webhooks.addresses import BlockedAddress, Resolver, literal_ip, system_resolver, why_blocked


class GuardedBackend(httpcore.SyncBackend):
    """Connects only to the public address it has just checked."""

    def __init__(self, allow_private: bool, resolver: Resolver = system_resolver):
        self._allow_private, self._resolver = allow_private, resolver

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        ip = literal_ip(host)
        try:
            addresses = [str(ip)] if ip is not None else self._resolver(host, port)
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from None
        if not addresses:
            raise httpcore.ConnectError(f"{host} has no address")
        if not self._allow_private:
            for address in addresses:
                reason = why_blocked(ipaddress.ip_address(address.split("%")[0]))
                if reason:
                    raise BlockedAddress(f"{host} resolves to a {reason} address ({address})")
        stream = super().connect_tcp(addresses[0], port, timeout, local_address, socket_options)
        peer = stream.get_extra_info("socket").getpeername()[0]
        if not self._allow_private and why_blocked(ipaddress.ip_address(peer.split("%")[0])):
            stream.close()
            raise BlockedAddress(f"connected to a non-public address ({peer})")
        return stream


def post(
    url: str,
    body: bytes,
    headers: dict[str, str],
    timeout: float,
    allow_private: bool,
    resolver: Resolver = system_resolver,
) -> int:
    """POST without following redirects, through the guarded backend. Returns the status code."""
    with httpcore.ConnectionPool(
        ssl_context=ssl.create_default_context(), network_backend=GuardedBackend(allow_private, resolver)
    ) as pool:
        resp = pool.request(
            "POST",
            url,
            headers=[(k.encode(), v.encode()) for k, v in headers.items()],
            content=body,
            extensions={"timeout": {"connect": timeout, "read": timeout, "write": timeout, "pool": timeout}},
        )
        return resp.status
