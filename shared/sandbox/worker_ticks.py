"""The simulated inference container's reports: what the real one (worker/callbacks.py) POSTs to the
orchestrator's worker callback, with the per-deployment secret it was given in the endpoint's env.

Each report is one delayed task on the product's TaskQueue (a step task of kind "sandbox"), so the
simulation runs on every backend and survives a restart. A tick reports the phase of *now* (phases.py),
schedules the next tick by name (a duplicate delivery cannot fork the chain) and stops once the worker
is ready or has crashed: late and repeated ticks only repeat a report, which the callback takes idempotently.
"""

from __future__ import annotations

from typing import Any

from shared.queue import Task
from shared.sandbox import state
from shared.sandbox.phases import Phase
from shared.sandbox.world import World
from shared.store.base import Doc

SECRET_HEADER = "X-Visgate-Internal-Secret"  # as worker/callbacks.py sends it
MAX_TICKS = 5000
FINAL_STAGES = ("ready", "crashed")


class ReportRefused(Exception):
    """The callback did not take the report now (unreachable, 5xx): the tick is retried by the queue."""


def tick_task(endpoint_id: str, n: int, delay: float) -> Task:
    payload = {"kind": "sandbox", "endpoint_id": endpoint_id, "tick": n}
    return Task(name=f"sandbox-{endpoint_id}-tick-{n}", payload=payload, delay_seconds=delay)


def start(world: World, endpoint_id: str) -> None:
    world.queue.enqueue(tick_task(endpoint_id, 0, 0.0))


def interval(world: World, ep: Doc) -> float:
    return max(0.2, min(1.0, state.line_of(world, ep).ready_after / 10))


def tick(world: World, endpoint_id: str, n: int) -> str:
    """Send the report of the worker's phase now; returns what happened (for the task's answer)."""
    ep = world.store.get(state.ENDPOINTS, endpoint_id)
    if ep is None:
        return "endpoint gone: the worker stopped"
    phase = state.phase(world, ep)
    final = phase.stage in FINAL_STAGES
    if not final and n < MAX_TICKS:
        world.queue.enqueue(tick_task(endpoint_id, n + 1, interval(world, ep)))  # first: a crash here loses nothing
    report = report_for(ep, phase)
    if report is None:
        return f"{phase.stage}: nothing to report"
    _post(world, ep, report)
    return f"reported {report['status']}"


def report_for(ep: Doc, phase: Phase) -> dict[str, Any] | None:
    model = ep.get("model_id") or "the model"
    gb = state.weights_gb(ep)
    if phase.stage == "downloading_model":
        done = gb * phase.progress / 100
        message = f"Downloading {model} ({done:.1f} of {gb:.1f} GB, simulated)"
        return {"status": "downloading_model", "message": message, "progress": phase.progress}
    if phase.stage == "loading_model":
        return {"status": "loading_model", "message": f"Loading {model} (simulated)", "progress": phase.progress}
    if phase.stage == "ready":
        return {"status": "ready", "message": "Model loaded (sandbox)", "metadata": {"sandbox": True}}
    return None  # booting, throttled (no worker yet) or crashed (a dead process reports nothing)


def _post(world: World, ep: Doc, report: dict[str, Any]) -> None:
    # httpx is imported only when a simulated report is sent: it stays off the step function's cold path
    import httpx

    url = str(ep["env"].get("ORCHESTRATOR_CALLBACK_URL") or "")
    sealed = (ep.get("secrets") or {}).get("ORCHESTRATOR_CALLBACK_SECRET", "")
    secret = world.cipher.decrypt(sealed, context=str(ep["id"])) if sealed else ""
    headers = {SECRET_HEADER: secret, "User-Agent": "visgate-worker (sandbox)"}
    try:
        resp = httpx.post(url, json=report, headers=headers, timeout=world.settings.http_timeout_seconds)
    except httpx.HTTPError as exc:
        raise ReportRefused(f"callback unreachable ({type(exc).__name__})") from None
    if resp.status_code >= 500 or resp.status_code in (408, 425, 429):
        raise ReportRefused(f"callback answered {resp.status_code}")
