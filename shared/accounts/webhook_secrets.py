"""A tenant's webhook signing secret as minted and as kept: `whsec_` + 24 random bytes, encrypted at rest.

A leaf below both users: a tenant is created with its secret (shared.accounts.tenants), and signing reads
and rotates it (shared.webhooks.signing).
"""

from __future__ import annotations

import base64
import secrets

from shared.services import Services


def mint() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def seal(svc: Services, tenant_id: str, secret: str) -> str:
    return svc.cipher.encrypt(secret, context=f"webhook:{tenant_id}")


def unseal(svc: Services, tenant_id: str, token: str | None) -> str | None:
    return svc.cipher.decrypt(token, context=f"webhook:{tenant_id}") if token else None
