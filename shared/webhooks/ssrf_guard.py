"""No server-side request forgery through webhooks.

A webhook target must be http(s), carry no credentials, and every address its host resolves to must be
public. The check runs at create time on the URL, and again at delivery inside the connection itself:
`GuardedBackend` resolves the host, refuses if any address is private, and connects to the address it
checked, so DNS rebinding between the check and the connect cannot slip through. Redirects are not
followed at all.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import ssl
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

import httpcore

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]
_LEGACY_IPV4 = re.compile(r"^(0x[0-9a-f]+|[0-9]+)(\.(0x[0-9a-f]+|[0-9]+)){0,3}$", re.IGNORECASE)
_SHARED = ipaddress.ip_network("100.64.0.0/10")


class BlockedAddress(Exception):
    pass


def system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def literal_ip(host: str) -> IPAddress | None:
    """An IP written in any form a resolver would accept: dotted, decimal, octal, hex, short, IPv6."""
    host = host.strip("[]")
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if _LEGACY_IPV4.match(host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def why_blocked(ip: IPAddress) -> str | None:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return why_blocked(ip.ipv4_mapped)
    checks = [
        (ip.is_loopback, "loopback"),
        (ip.is_link_local, "link-local"),
        (ip.is_multicast, "multicast"),
        (ip.is_unspecified, "unspecified"),
        (ip.is_reserved, "reserved"),
        (ip.is_private, "private"),
        (isinstance(ip, ipaddress.IPv4Address) and ip in _SHARED, "shared (carrier-grade NAT)"),
        (isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local, "site-local"),
    ]
    return next((label for hit, label in checks if hit), None)


def check_url(url: str, allow_private: bool, resolver: Resolver | None = system_resolver) -> None:
    """Raise ValueError naming what is wrong with a webhook URL (resolving its host when a resolver is given)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an absolute http or https URL")
    if parts.username or parts.password:
        raise ValueError("must not carry credentials")
    if allow_private:
        return
    host = parts.hostname
    ip = literal_ip(host)
    if ip is not None:
        reason = why_blocked(ip)
        if reason:
            raise ValueError(f"points at a {reason} address ({ip}); webhooks must reach the public internet")
        return
    if host.lower() in ("localhost", "localhost.localdomain") or host.lower().endswith(".localhost"):
        raise ValueError("points at localhost; webhooks must reach the public internet")
    if resolver is None:
        return
    try:
        addresses = resolver(host, parts.port or (443 if parts.scheme == "https" else 80))
    except OSError:
        return  # unresolvable now: the delivery checks again when it connects
    for address in addresses:
        reason = why_blocked(ipaddress.ip_address(address.split("%")[0]))
        if reason:
            raise ValueError(f"resolves to a {reason} address ({address}); webhooks must reach the public internet")


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
        socket_options: Iterable[Any] | None = None,  # httpcore's socket options, passed on as they are
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
