"""No server-side request forgery through webhooks.

A webhook target must be http(s), carry no credentials, and every address its host resolves to must be
public. The check runs at create time on the URL, and again at delivery inside the connection itself
(`post`, through shared.webhooks.guarded_transport): it resolves the host, refuses if any address is
private, and connects to the address it checked, so DNS rebinding between the check and the connect
cannot slip through. Redirects are not followed at all.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import quote, urlsplit, urlunsplit

from shared.webhooks.addresses import BlockedAddress, Resolver, literal_ip, system_resolver, why_blocked

__all__ = ["BlockedAddress", "ascii_url", "check_url", "post"]  # BlockedAddress: what `post` raises

_HOSTNAME = re.compile(r"^[a-z0-9_]([a-z0-9_-]{0,62})(\.[a-z0-9_]([a-z0-9_-]{0,62}))*\.?$")
# RFC 3986 characters kept as they are; everything else (non-ASCII as UTF-8, spaces, controls) is %-encoded.
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"
_QUERY_SAFE = _PATH_SAFE + "?"


def ascii_url(url: str) -> str:
    """The URL as pure ASCII, so it can go into a request line and a header: an IDNA (punycode) host,
    and a UTF-8 percent-encoded path, query and fragment. ValueError when it cannot be written so."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"is not a valid URL ({exc})") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an absolute http or https URL")
    if parts.username or parts.password:
        raise ValueError("must not carry credentials")
    host = parts.hostname
    if ":" in host:  # an IPv6 literal
        netloc = f"[{host}]"
    else:
        if not host.isascii():
            import idna  # imported here: its tables load only for the rare non-ASCII host (cold starts)

            try:
                host = idna.encode(host, uts46=True).decode("ascii")
            except (idna.IDNAError, UnicodeError):
                raise ValueError("has a host name that is not a valid internationalised domain name") from None
        if not _HOSTNAME.match(host):
            raise ValueError("has a host name with characters a domain name cannot hold")
        netloc = host
    if port is not None:
        netloc += f":{port}"
    try:
        path = quote(parts.path, safe=_PATH_SAFE)
        query = quote(parts.query, safe=_QUERY_SAFE)
        fragment = quote(parts.fragment, safe=_QUERY_SAFE)
    except UnicodeEncodeError:
        raise ValueError("holds text that is not valid Unicode") from None
    return urlunsplit((parts.scheme.lower(), netloc, path, query, fragment))


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


def post(
    url: str,
    body: bytes,
    headers: dict[str, str],
    timeout: float,
    allow_private: bool,
    resolver: Resolver = system_resolver,
) -> int:
    """POST without following redirects, through the guarded backend. Returns the status code."""
    # Imported here: httpcore (the connection) stays off the cold path of functions that only check URLs.
    from shared.webhooks import guarded_transport

    return guarded_transport.post(url, body, headers, timeout, allow_private, resolver)
