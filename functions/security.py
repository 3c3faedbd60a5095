"""Who is calling: API keys for users, the queue's token for step tasks.

Failed API-key and admin-token authentications are counted per client address; past
AUTH_FAILURES_PER_MINUTE the client gets 429 until the minute ends (shared.accounts.rate_limits)."""

from __future__ import annotations

from typing import cast

from flask import Request

from shared.accounts import rate_limits, tenants, tiers
from shared.deploy.worker_secret import WORKER_SECRET_HEADER, report_generation, verify_worker_secret
from shared.platform.crypto import keyed_hash, same
from shared.platform.errors import ApiError, RateLimitError, UnauthorizedError
from shared.services import Services


def client_address(svc: Services, request: Request) -> str:
    """The caller's address: the peer, or with TRUSTED_PROXY_HOPS=n the n-th X-Forwarded-For entry from
    the right (what the n proxies you run appended; entries further left are the client's to forge)."""
    hops = svc.settings.trusted_proxy_hops
    forwarded = [e.strip() for e in request.headers.get("X-Forwarded-For", "").split(",") if e.strip()]
    if hops and forwarded:
        return forwarded[-min(hops, len(forwarded))]
    return request.remote_addr or "unknown"


def api_principal(svc: Services, request: Request) -> tuple[tenants.Principal, dict[str, str]]:
    header = request.headers.get("Authorization")
    client = client_address(svc, request)
    try:
        principal = tenants.authenticate(svc, header)
    except UnauthorizedError:
        if header:  # a request with no credential at all guesses nothing
            rate_limits.check_auth_failures(svc, client)
            rate_limits.record_auth_failure(svc, client)
        raise
    # Behind a proxy every caller may share one address: a key in use this minute or the last is never
    # locked out by someone else's failures (else one guesser stops every tenant); a key not in use
    # waits like a wrong one, so a guess that hits it learns nothing until the minute ends.
    if header:
        try:
            rate_limits.check_auth_failures(svc, client)
        except RateLimitError:
            if not rate_limits.recently_used(svc, principal):
                raise
    return principal, rate_limits.check_rate(svc, principal)


def require_tier(svc: Services, principal: tenants.Principal, feature: str, headers: dict[str, str]) -> None:
    """403 TierError (with the RateLimit headers) unless the caller's tier includes the route's feature."""
    try:
        tiers.require(svc, principal.tier, cast(tiers.Feature, feature))
    except ApiError as err:
        err.headers = {**headers, **err.headers}
        raise


def require_admin(svc: Services, request: Request) -> None:
    """`X-Admin-Token` (or `Authorization: Bearer`) must equal ADMIN_TOKEN; without ADMIN_TOKEN, /admin is off."""
    configured = svc.settings.admin_token.get_secret_value() if svc.settings.admin_token else ""
    given = request.headers.get("X-Admin-Token") or request.headers.get("Authorization", "").removeprefix("Bearer ")
    client = client_address(svc, request)
    if given:
        rate_limits.check_auth_failures(svc, client)
    if not configured or not given or not same(given.strip(), configured):
        if given:
            rate_limits.record_auth_failure(svc, client)
        raise UnauthorizedError("Missing or invalid admin token")


def verify_worker(svc: Services, request: Request, deployment_id: str) -> None:
    """The inference container proves it serves this deployment with the secret derived for it alone."""
    secret = request.headers.get(WORKER_SECRET_HEADER)
    verify_worker_secret(svc.settings, deployment_id, secret, report_generation(request.args.get("generation")))


def local_task_token(svc: Services) -> str:
    return keyed_hash(svc.settings.internal_secret.get_secret_value(), "local-queue", "task-token")


def verify_task_caller(svc: Services, request: Request) -> None:
    """Only the queue may run steps: Cloud Tasks' OIDC token on GCP, a shared token locally."""
    header = request.headers.get("Authorization", "")
    if svc.settings.orchestrator_backend == "gcp":
        # google-auth is heavy: imported only on the gcp backend
        from shared.clients.google_auth import verify_tasks_token

        verify_tasks_token(svc.settings, header)
        return
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not same(token.strip(), local_task_token(svc)):
        raise UnauthorizedError("step tasks come from the task queue only")
