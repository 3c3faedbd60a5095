"""Proof that a step call comes from Cloud Tasks: its Google-signed OIDC token, checked in code.

IAM (`run.invoker` for the tasks-invoker account only) already guards the step function; this is
the second lock. The token must be signed by Google, unexpired, issued for one of the internal
functions (audience: the origin of STEP_FUNCTION_URL or RECONCILE_FUNCTION_URL, which is what the
queue adapter and the scheduler job ask for) and for the tasks-invoker service account.

The Cloud Tasks emulator sends no token. Only while CLOUD_TASKS_EMULATOR_HOST is set (and never on
Cloud Run, which sets K_SERVICE) the adapter sends, and this module accepts, an HMAC of
INTERNAL_SECRET instead, and says so loudly in the log.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from shared.platform.crypto import keyed_hash, same
from shared.platform.errors import UnauthorizedError

if TYPE_CHECKING:
    from shared.platform.settings import Settings

log = logging.getLogger(__name__)

GOOGLE_CERTS_URL = "https://www.googleapis.com/oauth2/v1/certs"
GOOGLE_ISSUERS = ("accounts.google.com", "https://accounts.google.com")
EMULATOR_ENV = "CLOUD_TASKS_EMULATOR_HOST"
EMULATOR_TOKEN_PREFIX = "emulator."
CLOCK_SKEW_SECONDS = 30

Certs = Mapping[str, str]  # key id -> PEM certificate or public key
CertsFetcher = Callable[[], tuple[Certs, float]]  # the certs and how many seconds they stay fresh


def audience_for(url: str) -> str:
    """The OIDC audience for a function URL: its origin (Cloud Run checks tokens against it)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def internal_function_urls(settings: Settings) -> dict[str, str]:
    """The functions only Cloud Tasks and Cloud Scheduler may call, by task target."""
    # RECONCILE_FUNCTION_URL: a setting requested from shared/platform/settings.py's owner; until it exists the
    # reconciler is reachable on the embedded default only.
    urls = {"step": settings.step_function_url, "reconcile": settings.reconcile_function_url}
    return {target: url for target, url in urls.items() if url}


def emulator_host() -> str | None:
    """The Cloud Tasks emulator's host:port, when one is configured (local runs and tests only)."""
    host = os.environ.get(EMULATOR_ENV) or None
    if host and os.environ.get("K_SERVICE"):
        raise RuntimeError(f"{EMULATOR_ENV} is set on Cloud Run/Functions; it is for local emulation only")
    return host


def emulator_task_token(settings: Settings) -> str:
    secret = settings.internal_secret.get_secret_value() if settings.internal_secret else ""
    if not secret:
        raise RuntimeError("the Cloud Tasks emulator token needs INTERNAL_SECRET")
    return EMULATOR_TOKEN_PREFIX + keyed_hash(secret, "cloud-tasks-emulator", "task-token")


def fetch_google_certs() -> tuple[Certs, float]:
    # httpx only to fetch Google's signing certificates: kept off every other path
    import httpx

    resp = httpx.get(GOOGLE_CERTS_URL, timeout=5.0)
    resp.raise_for_status()
    match = re.search(r"max-age=(\d+)", resp.headers.get("Cache-Control", ""))
    return resp.json(), float(match.group(1)) if match else 300.0


class CertCache:
    """Google's signing certs, kept as long as Google says and refetched for an unknown key id."""

    def __init__(self, fetch: CertsFetcher = fetch_google_certs, clock: Callable[[], float] = time.monotonic):
        self._fetch = fetch
        self._clock = clock
        self._lock = threading.Lock()
        self._certs: Certs = {}
        self._fresh_until = 0.0

    def get(self, key_id: str | None) -> Certs:
        with self._lock:
            if self._clock() >= self._fresh_until or (key_id and key_id not in self._certs):
                self._certs, max_age = self._fetch()
                self._fresh_until = self._clock() + max_age
            return self._certs


_google_certs = CertCache()


def verify_tasks_token(settings: Settings, authorization_header: str | None, certs: CertCache | None = None) -> None:
    """Raise UnauthorizedError unless the header carries Cloud Tasks' token for the step function."""
    scheme, _, token = (authorization_header or "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise UnauthorizedError("step tasks come from Cloud Tasks only")
    if token.startswith(EMULATOR_TOKEN_PREFIX):
        _verify_emulator_token(settings, token)
        return
    audiences = sorted({audience_for(url) for url in internal_function_urls(settings).values()})
    if not audiences:  # never let an empty audience list switch the audience check off
        raise UnauthorizedError("no internal function URL is configured")
    # google-auth is heavy: imported only when a Cloud Tasks token is checked (gcp backend)
    from google.auth import exceptions, jwt

    try:
        # google-auth's jwt functions carry no annotations.
        key_id = jwt.decode_header(token).get("kid")  # type: ignore[no-untyped-call]
        claims = jwt.decode(  # type: ignore[no-untyped-call]
            token,
            certs=(certs or _google_certs).get(key_id),
            audience=audiences,
            clock_skew_in_seconds=CLOCK_SKEW_SECONDS,
        )
    except (exceptions.GoogleAuthError, ValueError) as exc:
        raise UnauthorizedError(f"invalid Cloud Tasks token ({type(exc).__name__})") from None
    if claims.get("iss") not in GOOGLE_ISSUERS:
        raise UnauthorizedError("invalid Cloud Tasks token (issuer)")
    if not settings.tasks_invoker_sa or claims.get("email") != settings.tasks_invoker_sa:
        raise UnauthorizedError("invalid Cloud Tasks token (service account)")
    if claims.get("email_verified") is not True:
        raise UnauthorizedError("invalid Cloud Tasks token (unverified email)")


_warned = threading.Event()


def _verify_emulator_token(settings: Settings, token: str) -> None:
    if emulator_host() is None:
        raise UnauthorizedError("step tasks come from Cloud Tasks only")
    if not _warned.is_set():
        _warned.set()
        log.warning(
            "%s is set: step calls are authenticated with the emulator's HMAC token, not Google's OIDC "
            "token. This is for local emulation only.",
            EMULATOR_ENV,
        )
    if not same(token, emulator_task_token(settings)):
        raise UnauthorizedError("invalid Cloud Tasks emulator token")
