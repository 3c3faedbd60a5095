"""No server-side request forgery through webhooks.

A webhook target must be http(s), carry no credentials, and every address its host resolves to must be
public. The check runs at create time on the URL, and again at delivery inside the connection itself
(shared.webhooks.guarded_transport.post): it resolves the host, refuses if any address is
private, and connects to the address it checked, so DNS rebinding between the check and the connect
cannot slip through. Redirects are not followed at all.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from shared.webhooks.addresses import Resolver, literal_ip, system_resolver, why_blocked

__all__ = ["check_url"]


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
