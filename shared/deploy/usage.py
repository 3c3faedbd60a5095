"""GET /v1/usage and /admin/usage: the metered intervals (shared/deploy/meter.py) clipped to a period and
summed by deployment, day, model or tenant, with totals in GPU-seconds and USD."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from shared.deploy.meter import INTERVALS
from shared.platform.clock import iso, parse
from shared.platform.errors import BadRequestError
from shared.services import Services
from shared.store import Query, Where

GROUPS = ("deployment", "day", "model", "tenant")
DEFAULT_DAYS = 30
MAX_DAYS = 366


def period(svc: Services, since: str | None, until: str | None) -> tuple[datetime, datetime]:
    """[from, to) from the query (ISO-8601); by default the last 30 days. 400 for text that is no time."""
    try:
        end = parse(until) if until else svc.now()
        start = parse(since) if since else end - timedelta(days=DEFAULT_DAYS)
    except (ValueError, OverflowError):
        raise BadRequestError("from and to must be ISO-8601 times", {"from": since, "to": until}) from None
    if start >= end:
        raise BadRequestError("from must be before to", {"from": iso(start), "to": iso(end)})
    if end - start > timedelta(days=MAX_DAYS):
        raise BadRequestError(f"a period spans at most {MAX_DAYS} days", {"from": iso(start), "to": iso(end)})
    return start, end


def report(svc: Services, start: datetime, end: datetime, group_by: str, tenant_id: str | None) -> dict[str, Any]:
    """Usage of one tenant (or of all when tenant_id is None) within [start, end), grouped."""
    if group_by not in GROUPS:
        raise BadRequestError(f"group_by must be one of {', '.join(GROUPS)}", {"group_by": group_by})
    where = [Where("start", "<", iso(end))]
    if tenant_id is not None:
        where.append(Where("tenant_id", "==", tenant_id))
    sums: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for _, doc in svc.store.query(Query(INTERVALS, where=tuple(where))):
        for key, seconds in _pieces(doc, start, end, group_by):
            row = sums[key]
            row[0] += seconds
            row[1] += seconds / 3600 * float(doc.get("price_per_gpu_hour") or 0.0)
    rows = [{"key": k, "gpu_seconds": round(v[0], 3), "usd": round(v[1], 6)} for k, v in sorted(sums.items())]
    return {
        "from": start,
        "to": end,
        "group_by": group_by,
        "tenant_id": tenant_id,
        "data": rows,
        "total": {
            "gpu_seconds": round(sum(v[0] for v in sums.values()), 3),
            "usd": round(sum(v[1] for v in sums.values()), 6),
        },
    }


def spent_usd(svc: Services, field: str, value: str, since: datetime | None = None) -> float:
    """USD metered for intervals whose `field` is `value` (a deployment, a tenant), from `since` on."""
    total = 0.0
    for _, doc in svc.store.query(Query(INTERVALS, where=(Where(field, "==", value),))):
        price = float(doc.get("price_per_gpu_hour") or 0.0)
        if since is None:
            total += float(doc.get("usd") or 0.0)
        else:
            total += sum(s for _, s in _pieces(doc, since, parse(doc["end"]), "deployment")) / 3600 * price
    return total


def _pieces(doc: dict[str, Any], start: datetime, end: datetime, group_by: str) -> list[tuple[str, float]]:
    """The interval's GPU-seconds inside [start, end), under its group key (split at midnights by day)."""
    lo, hi = max(parse(doc["start"]), start), min(parse(doc["end"]), end)
    if lo >= hi:
        return []
    gpus = int(doc.get("gpus") or 0)
    if group_by != "day":
        field = {"deployment": "deployment_id", "model": "model_id", "tenant": "tenant_id"}[group_by]
        return [(str(doc.get(field)), (hi - lo).total_seconds() * gpus)]
    out = []
    while lo < hi:
        midnight = datetime.combine(lo.date() + timedelta(days=1), datetime.min.time(), lo.tzinfo)
        cut = min(midnight, hi)
        out.append((lo.date().isoformat(), (cut - lo).total_seconds() * gpus))
        lo = cut
    return out
