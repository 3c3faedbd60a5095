"""Crash-loop watch: a deployment whose workers are all unhealthy (none ready) is flagged (`unhealthy_since`,
logged once) and, when its owner opted in (`auto_pause_unhealthy`), paused with the reason once that has
lasted UNHEALTHY_PAUSE_SECONDS: the bill stops. Reads the worker counts the meter's last sample saw
(shared/deploy/meter.py), so it costs no call to Runpod of its own.
"""

from __future__ import annotations

from shared.deploy import records, scaling
from shared.deploy.meter import METERS
from shared.platform.clock import parse
from shared.schemas.states import SERVING
from shared.schemas.stored import Deployment
from shared.services import Services

REASON = "unhealthy"


def watch(svc: Services, dep: Deployment) -> str | None:
    """ "flagged", "paused", "recovered" or None (nothing changed)."""
    sample = svc.store.get(METERS, dep.deployment_id)
    if not sample:
        return None
    crashing = int(sample.get("unhealthy") or 0) > 0 and int(sample.get("ready") or 0) == 0
    seen_at = parse(sample["at"])

    def apply(d: Deployment) -> Deployment | None:
        if crashing and d.unhealthy_since is None:
            d.unhealthy_since = seen_at
            return d
        if not crashing and d.unhealthy_since is not None:
            d.unhealthy_since = None
            return d
        return None

    after, changed = records.mutate(svc, dep.deployment_id, apply)
    if after is None:
        return None
    if changed:
        if not crashing:
            records.log(svc, dep.deployment_id, "INFO", "Workers healthy again: the crash-loop flag is cleared")
            return "recovered"
        records.log(svc, dep.deployment_id, "WARNING", "Flagged: every worker is unhealthy (crash-looping)")
    since = after.unhealthy_since
    lasted = (svc.now() - since).total_seconds() if since else 0.0
    if not (crashing and after.auto_pause_unhealthy and after.status in SERVING):
        return "flagged" if changed else None
    if lasted < svc.settings.unhealthy_pause_seconds:
        return "flagged" if changed else None
    try:
        scaling.stop(svc, after, reason=REASON)
    except Exception as exc:  # e.g. Runpod refused the 0/0: the next pass tries again
        records.log(svc, dep.deployment_id, "WARNING", f"Could not pause the crash-looping deployment: {exc}")
        return "flagged"
    records.log(
        svc, dep.deployment_id, "WARNING",
        f"Paused: workers crash-looped for {lasted:.0f} s (auto_pause_unhealthy); fix the cause, then POST /start",
    )  # fmt: skip
    return "paused"
