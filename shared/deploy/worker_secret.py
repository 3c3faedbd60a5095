"""The secret an inference container proves it serves one deployment with.

Derived per deployment from INTERNAL_SECRET, handed to the container at create
(ORCHESTRATOR_CALLBACK_SECRET) and checked on every report it sends (header WORKER_SECRET_HEADER), so a
container can speak for its own deployment only. Light on purpose: authentication imports it.
"""

from __future__ import annotations

from shared.platform.crypto import callback_secret, same
from shared.platform.errors import UnauthorizedError
from shared.platform.settings import Settings

WORKER_SECRET_HEADER = "X-Visgate-Internal-Secret"


def worker_secret(settings: Settings, deployment_id: str) -> str:
    if settings.internal_secret is None:  # load_settings fills it locally and requires it on GCP
        raise RuntimeError("INTERNAL_SECRET is not configured")
    return callback_secret(settings.internal_secret.get_secret_value(), deployment_id)


def verify_worker_secret(settings: Settings, deployment_id: str, secret: str | None) -> None:
    if not secret or not same(secret, worker_secret(settings, deployment_id)):
        raise UnauthorizedError(f"Missing or invalid {WORKER_SECRET_HEADER}")
