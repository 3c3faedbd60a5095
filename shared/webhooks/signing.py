"""Standard Webhooks signatures with a per-tenant secret the tenant can read and rotate.

After a rotation the previous secret keeps signing (a second signature in the same header) for
ROTATION_GRACE, so receivers can switch over without dropping deliveries.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from shared.accounts.tenants import TENANTS
from shared.accounts.webhook_secrets import mint, seal, unseal
from shared.platform.clock import iso, parse
from shared.platform.errors import NotFoundError
from shared.services import Services
from shared.store.base import Doc

ROTATION_GRACE = timedelta(hours=24)


class NoSigningSecret(Exception):
    """The tenant has no secret (e.g. it was deleted): a delivery must not go out unsigned."""


def secrets_for(svc: Services, tenant_id: str) -> tuple[str, str | None]:
    """(current, previous-still-valid) secrets, creating the current one on first use."""
    doc = svc.store.get(TENANTS, tenant_id) or {}
    if not doc.get("webhook_secret"):
        fresh = seal(svc, tenant_id, mint())
        stored, _ = svc.store.update(
            TENANTS, tenant_id, lambda t: t if t is None or t.get("webhook_secret") else {**t, "webhook_secret": fresh}
        )
        doc = stored or {}
    current = unseal(svc, tenant_id, doc.get("webhook_secret")) or ""
    previous = None
    until = doc.get("previous_secret_until")
    if until and parse(until) > svc.now():
        previous = unseal(svc, tenant_id, doc.get("previous_webhook_secret"))
    return current, previous


def rotate(svc: Services, tenant_id: str) -> tuple[str, datetime]:
    """Make a fresh secret current and keep the one it replaces signing for ROTATION_GRACE.

    The previous secret is taken inside the store's atomic update, never from an earlier read: two
    rotations at once then chain (A replaces S0, B replaces A) and each caller gets the secret it stored.
    """
    new = mint()
    sealed = seal(svc, tenant_id, new)
    until = svc.now() + ROTATION_GRACE

    def change(t: Doc | None) -> Doc | None:
        if t is None:
            return None
        replaced = t.get("webhook_secret")  # still encrypted: copied as it is
        return {
            **t,
            "previous_webhook_secret": replaced,
            "previous_secret_until": iso(until) if replaced else None,
            "webhook_secret": sealed,
        }

    _, stored = svc.store.update(TENANTS, tenant_id, change)
    if not stored:
        raise NotFoundError(f"Tenant {tenant_id} not found", {"tenant_id": tenant_id})
    return new, until


def headers_for(svc: Services, tenant_id: str, msg_id: str, body: str) -> dict[str, str]:
    """Standard Webhooks headers. Raises NoSigningSecret rather than ever signing with nothing."""
    current, previous = secrets_for(svc, tenant_id)
    if not current:
        raise NoSigningSecret(f"tenant {tenant_id} has no webhook signing secret (the tenant no longer exists)")
    now = svc.now()
    # Imported here: keeps standardwebhooks off cold paths that sign nothing (GET a deployment).
    from standardwebhooks import Webhook

    signatures = [Webhook(s).sign(msg_id, now, body) for s in (current, previous) if s]
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": " ".join(signatures),
    }
