"""The secret an inference container proves it serves one deployment with.

Derived per deployment from INTERNAL_SECRET, handed to the container at create
(ORCHESTRATOR_CALLBACK_SECRET) and checked on every report it sends (header WORKER_SECRET_HEADER), so a
container can speak for its own deployment only. A green update's container (generation > 1) gets a
secret of its own generation and calls back with `?generation=N`, so its reports reach that update and
can never move the serving deployment. Light on purpose: authentication imports it.
"""

from __future__ import annotations

from shared.platform.crypto import callback_secret, same
from shared.platform.errors import UnauthorizedError
from shared.platform.settings import Settings

WORKER_SECRET_HEADER = "X-Visgate-Internal-Secret"


def callback_path(deployment_id: str, generation: int = 1) -> str:
    path = f"/internal/deployment-ready/{deployment_id}"
    return path if generation <= 1 else f"{path}?generation={generation}"


def worker_secret(settings: Settings, deployment_id: str, generation: int = 1) -> str:
    if settings.internal_secret is None:  # load_settings fills it locally and requires it on GCP
        raise RuntimeError("INTERNAL_SECRET is not configured")
    subject = deployment_id if generation <= 1 else f"{deployment_id}/g{generation}"
    return callback_secret(settings.internal_secret.get_secret_value(), subject)


def report_generation(raw: str | None) -> int:
    """The generation a report names (`?generation=`); none is the first."""
    if raw is None:
        return 1
    if not raw.isascii() or not raw.isdigit() or len(raw) > 9:
        raise UnauthorizedError("Invalid generation")
    return int(raw)


def verify_worker_secret(settings: Settings, deployment_id: str, secret: str | None, generation: int = 1) -> None:
    if not secret or not same(secret, worker_secret(settings, deployment_id, generation)):
        raise UnauthorizedError(f"Missing or invalid {WORKER_SECRET_HEADER}")
