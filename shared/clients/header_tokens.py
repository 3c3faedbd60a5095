"""Tokens that go into HTTP headers (Runpod keys, Hugging Face tokens): checked before any header is built.

An HTTP header carries printable ASCII only; a key with other characters can never authenticate, and
building a header from it raises deep inside the HTTP client. So every such token is checked at the
API's edge (422) and again where its header is built.
"""

from __future__ import annotations

import re

HEADER_TOKEN = re.compile(r"[\x21-\x7e]+")
TOKEN_RULE = "must be printable ASCII without spaces"


class UnsafeToken(ValueError):
    """The token holds characters an HTTP header cannot carry."""


def header_safe(token: str) -> bool:
    return bool(HEADER_TOKEN.fullmatch(token))


def check_token(token: str) -> str:
    """The token itself, or ValueError (pydantic validators turn it into a 422)."""
    if not header_safe(token):
        raise UnsafeToken(TOKEN_RULE)
    return token


def bearer(token: str) -> dict[str, str]:
    """`Authorization: Bearer <token>`, refusing a token no header can carry."""
    return {"Authorization": f"Bearer {check_token(token)}"}
