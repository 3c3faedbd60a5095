"""cleanup: remove every Runpod endpoint of a deployment (failed or deleted), a green update's too, and
verify each is gone."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from shared.accounts.credentials import deployment_runpod
from shared.clients.runpod import RunpodError
from shared.deploy import meter, notify, purge, tasks
from shared.deploy.commit import Move
from shared.deploy.green import green_endpoint_ids, is_generation_of
from shared.deploy.step_context import StepContext
from shared.platform.crypto import CryptoError
from shared.schemas.states import Status
from shared.schemas.stored import Deployment

if TYPE_CHECKING:  # the client module brings httpx: only its type is needed here
    from shared.clients.runpod import RunpodClient


def cleanup(ctx: StepContext) -> None:
    """Delete every endpoint of this deployment (by id and by name) and verify each is gone."""
    dep = ctx.dep
    try:
        client = deployment_runpod(ctx.svc, dep)
    except CryptoError:
        _cleanup_failed(ctx, "the stored Runpod key cannot be decrypted")
        return
    with client:
        try:
            ids = {i for i in (dep.runpod_endpoint_id, *green_endpoint_ids(dep)) if i is not None}
            ids |= {e["id"] for e in client.list_endpoints() if is_generation_of(dep, str(e.get("name") or ""))}
            remove_verified(client, ids)
        except RunpodError as exc:
            fault = exc  # `exc` is unbound after the handler; the give-up callback keeps the fault
            ctx.handle_fault(
                fault,
                give_up=lambda m: _cleanup_failed(ctx, _with_key_hint(ctx, fault, m)),
                max_attempts=ctx.settings.cleanup_max_attempts,
            )
            return
    meter.close_at_removal(ctx.svc, dep, ctx.svc.now())  # before the move: a crash after it must not lose it
    gone = ", ".join(sorted(ids)) or "none existed"
    deleted = dep.status in (Status.DELETING, Status.CLEANUP_FAILED)

    def apply(d: Deployment) -> None:
        d.endpoint_deleted_at = ctx.svc.now()
        d.update = None  # a green update's endpoints went with the rest

    moved = ctx.advance(
        Move(
            next_step=None,
            status=Status.DELETED if deleted else None,
            apply=apply,
            message=("INFO", f"Runpod endpoint removed and verified gone ({gone})"),
        )
    )
    if moved:
        tasks.settle_all(ctx.svc, ctx.dep)
    if moved and deleted:
        notify.announce(ctx.svc, ctx.dep, "deployment.deleted")
        purge.purge_if_gone(ctx.svc, dep.deployment_id, requested_only=True)  # the operator asked for it


def remove_verified(client: RunpodClient, ids: Iterable[str]) -> None:
    """Delete each endpoint and check with a GET that it is gone (a RunpodError otherwise)."""
    for endpoint_id in sorted(ids):
        client.delete_endpoint(endpoint_id)
        if client.get_endpoint(endpoint_id) is not None:
            raise RunpodError("unavailable", f"endpoint {endpoint_id} still exists after delete")


def _with_key_hint(ctx: StepContext, exc: RunpodError, reason: str) -> str:
    """Why cleanup failed; for a key Runpod rejects, what the user can do about it."""
    if exc.kind in ("unauthorized", "forbidden"):
        dep_id = ctx.dep.deployment_id
        return (
            f"Runpod rejected the stored key ({exc.status or exc.kind}): update the credential "
            f"with PUT /v1/credentials/{{id}} or POST /v1/deployments/{dep_id}/credential"
        )
    return reason


def _cleanup_failed(ctx: StepContext, reason: str) -> None:
    status = Status.CLEANUP_FAILED if ctx.dep.status == Status.DELETING else None
    reason = f"{reason}; the reconciler keeps trying"

    def apply(d: Deployment) -> None:
        if d.steps and d.steps[-1].name == "cleanup":
            d.steps[-1].error = reason  # shown as deletion.error

    ctx.advance(
        Move(
            next_step=None,
            status=status,
            apply=apply,
            outcome="failed",
            message=("ERROR", f"Cleanup failed: {reason}"),
        )
    )
