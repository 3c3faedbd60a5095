"""A webhook URL in the pure-ASCII form it is stored and called with (an API body rule, no network)."""

from __future__ import annotations

import re
from urllib.parse import quote, urlsplit, urlunsplit

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
            import idna  # its tables load only for a non-ASCII host: kept off the cold path of GET a deployment

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
