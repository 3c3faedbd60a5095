"""Re-placement: widen a waiting endpoint's GPU pools when no worker starts, instead of waiting silently.

wait_ready calls `consider` on every poll that saw no worker up and none crash-looping. Once
PLACEMENT_TIMEOUT_SECONDS have passed since the endpoint was created (or since the last change) and
Runpod reports the worker throttled or none initializing, the next pools that fit, have stock and stay
within the user's `max_price_per_gpu_hour` are added. Each change is an entry of `placement.history`,
written *before* the PATCH (state `pending`), so a retried, duplicated or late step never opens a
second change for the same window: it finishes the pending one instead, confirming its pools by
reading the endpoint (a PATCH whose answer was lost) or sending it again (the PATCH states the whole
list, so sending it twice changes nothing). Only this deployment's endpoint (by name) is ever changed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from shared.accounts.credentials import deployment_runpod
from shared.catalog import gpu_pools
from shared.clients.runpod import RunpodError
from shared.deploy.step_context import StepContext
from shared.deploy.steps.sizing import ASSUMED_VRAM_GB, live_stock
from shared.platform.clock import iso, parse
from shared.schemas.stored import Deployment

if TYPE_CHECKING:  # the client module brings httpx: kept off the cold path of functions that only read
    from shared.clients.runpod import RunpodClient

Entry = dict[str, Any]


class Seen(Protocol):
    """What the last health poll counted (endpoint.Probe)."""

    @property
    def throttled(self) -> int: ...

    @property
    def initializing(self) -> int: ...


def gpu_block(dep: Deployment, pools: list[str]) -> dict[str, Any]:
    """The endpoint's `gpu`: pools in priority order, and the image's CUDA floor (Runpod never places a
    worker on an older driver). Sent whole on every PATCH that touches it (runpod.md's known quirk)."""
    gpu: dict[str, Any] = {"pools": pools, "count": dep.gpu_count}
    if dep.worker.get("min_cuda_version"):
        gpu["minCudaVersion"] = dep.worker["min_cuda_version"]
    return gpu


def consider(ctx: StepContext, seen: Seen) -> None:
    """Widen the pools when this timeout window is over and Runpod finds no GPU; finish a pending change."""
    dep = ctx.dep
    if not _eligible(ctx):
        return
    history: list[Entry] = list((dep.placement or {}).get("history") or [])
    last = history[-1] if history else None
    if last is not None and last["state"] == "pending":
        _finish(ctx, last)
        return
    if last is not None and last["state"] in ("exhausted", "refused"):
        return  # said once; a capacity wait until the deadline
    since = parse(last["at"]) if last is not None else dep.endpoint_created_at
    timeout = ctx.settings.placement_timeout_seconds
    if since is None or (ctx.svc.now() - since).total_seconds() < timeout:
        return
    if seen.throttled == 0 and seen.initializing > 0:
        return  # a worker has a GPU and is starting (pulling the image): not a capacity wait
    listed = list(dep.gpu_pools)
    required = float((dep.placement or {}).get("required_vram_gb") or ASSUMED_VRAM_GB)
    ceiling = dep.max_price_per_gpu_hour
    added = gpu_pools.widen(required, dep.gpu_count, listed, live_stock(ctx.svc, dep), ceiling)
    entry: Entry = {
        "at": iso(ctx.svc.now()),
        "window": len(history) + 1,
        "reason": f"no worker started within {timeout:.0f} s: Runpod reports {seen.throttled} throttled, "
        f"{seen.initializing} initializing on {', '.join(listed)}",
        "state": "pending" if added else "exhausted",
        "previous_pools": listed,
        "added_pools": added,
        "pools": listed + added,
    }
    if not added:
        under = f" under max_price_per_gpu_hour ${ceiling:.2f}" if ceiling is not None else ""
        note = f"no more pools fit{under} and have stock; waiting for capacity on {', '.join(listed)}"
        if _settle(ctx, entry, "exhausted", message=f"Waiting for GPU capacity: {note}"):
            ctx.log("WARNING", f"Re-placement: {entry['reason']}; {note} until the deadline")
        return
    if _settle(ctx, entry, "pending"):
        _finish(ctx, entry)


def _eligible(ctx: StepContext) -> bool:
    """Availability placement, pools the product chose (not a gpu_tier the user pinned), an endpoint."""
    dep = ctx.dep
    return (
        ctx.settings.placement_mode == "availability"
        and dep.placement is not None
        and dep.runpod_endpoint_id is not None
        and gpu_pools.resolve_tier(dep.gpu_tier) is None
    )


def _finish(ctx: StepContext, entry: Entry) -> None:
    """Make the endpoint list `entry`'s pools (reading first: its PATCH may have happened) and say so."""
    dep = ctx.dep
    try:
        with deployment_runpod(ctx.svc, dep) as client:
            outcome, why = _apply(client, dep, entry)
    except RunpodError as exc:
        if exc.transient:
            return  # stays pending: the next poll reads the endpoint and finishes it
        outcome, why = "failed", f"Runpod refused the update ({exc.message})"
    if outcome == "unconfirmed":
        return  # an answer without the pools: the next poll reads the endpoint
    if outcome == "applied":
        added = ", ".join(entry["added_pools"])
        message = f"Re-placed: no GPU on {', '.join(entry['previous_pools'])}; now also trying {added}"
        if _settle(ctx, entry, "applied", message=message):
            pools = ", ".join(entry["pools"])
            ctx.log("INFO", f"Re-placement: {entry['reason']}; widened the endpoint's pools to {pools}")
        return
    if _settle(ctx, entry, outcome, error=why):
        then = "re-placement stops" if outcome == "refused" else "the next window tries again"
        ctx.log("WARNING", f"Re-placement failed: {why}; still waiting for capacity ({then})")


def _apply(client: RunpodClient, dep: Deployment, entry: Entry) -> tuple[str, str]:
    """(applied | unconfirmed | failed | refused, why); the own-resource guard: only an endpoint with this
    deployment's name is ever changed."""
    endpoint_id = dep.runpod_endpoint_id or ""
    current = client.get_endpoint(endpoint_id)
    if current is None:
        return "failed", "the endpoint no longer exists"
    if current.get("name") != dep.endpoint_name:
        return "refused", f"{endpoint_id} is not this deployment's endpoint (named {current.get('name')!r})"
    if _pools_of(current) == entry["pools"]:
        return "applied", ""  # an earlier PATCH did it (its answer was lost)
    answer = client.update_endpoint(endpoint_id, {"gpu": gpu_block(dep, entry["pools"])})
    return ("applied", "") if _pools_of(answer) == entry["pools"] else ("unconfirmed", "")


def _pools_of(endpoint: dict[str, Any]) -> list[str] | None:
    gpu = endpoint.get("gpu")
    pools = gpu.get("pools") if isinstance(gpu, dict) else None
    return [str(p) for p in pools] if isinstance(pools, list) else None


def _settle(ctx: StepContext, entry: Entry, state: str, error: str | None = None, message: str | None = None) -> bool:
    """Record `entry` (by window) in `state`; applied also makes its pools the deployment's. False: superseded."""
    done = {**entry, "state": state, **({"error": error} if error else {})}

    def apply(d: Deployment) -> None:
        placement = dict(d.placement or {})
        history = [e for e in placement.get("history") or [] if e.get("window") != entry["window"]]
        placement["history"] = [*history, done]
        if state == "applied":
            placement["chosen"] = list(entry["pools"])
            d.gpu_pools = list(entry["pools"])
        d.placement = placement
        if message:
            d.worker_message = message

    return ctx.save(apply)
