"""The web console: static files shipped in the bundle (functions/console_files/), no build step.

Only names listed in that folder are served (a flat folder: no path can reach outside it), every answer
carries a Content-Security-Policy of 'self' (no inline code, no eval, no other origin) and nosniff.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from flask import Response

from functions.routing import Call
from shared.platform.errors import NotFoundError

FILES = Path(__file__).parent / "console_files"
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
# img-src data: is for the image the "try it" panel shows (the base64 PNG a job returns).
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


@cache
def served() -> dict[str, Path]:
    """The files the console may serve, by name: built once from the folder, the only lookup ever made."""
    return {p.name: p for p in FILES.iterdir() if p.is_file() and p.suffix in TYPES}


def _file(name: str) -> Response:
    path = served().get(name)
    if path is None:
        raise NotFoundError(f"no console file {name!r}", {"filename": "unknown"})
    return Response(path.read_bytes(), headers=HEADERS, content_type=TYPES[path.suffix])


def console_page(call: Call) -> Response:
    return _file("index.html")


def console_asset(call: Call, filename: str) -> Response:
    return _file(filename)
