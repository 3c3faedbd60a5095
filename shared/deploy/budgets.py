"""Budgets: metered spend against a deployment's limits, with events at 50 % and 80 %
(`deployment.budget_warning`) and 100 % (`deployment.budget_exceeded`), each sent once per period (the day,
or the whole life for max_usd_total), then the action enforced: pause (workers 0/0) or scale_to_zero
(min workers 0). Enforcement happens when 100 % is first crossed in a period, so `POST /start` lifts it for
the rest of that period; a changed budget starts over (and lifts the action when spend is within it).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, time

from shared.deploy import notify, records, scaling, usage
from shared.platform import tally
from shared.schemas.budgets import Budget, BudgetState
from shared.schemas.states import SERVING, Status
from shared.schemas.stored import Deployment
from shared.services import Services

log = logging.getLogger(__name__)

THRESHOLDS = (50, 80, 100)
WARNING, EXCEEDED = "deployment.budget_warning", "deployment.budget_exceeded"


def check_quietly(svc: Services, deployment_id: str) -> list[str]:
    """`check` for the reconciler: a budget problem never stops its pass."""
    try:
        return check(svc, deployment_id)
    except Exception:
        log.warning("budgets: check of %s failed", deployment_id, exc_info=True)
        return []


def check(svc: Services, deployment_id: str) -> list[str]:
    """Announce the thresholds newly crossed and enforce the action at 100 %; the keys announced."""
    dep = records.load(svc, deployment_id)
    if dep is None or dep.budget is None or dep.status in (Status.DELETING, Status.DELETED):
        return []
    budget, now = dep.budget, svc.now()
    day = now.date().isoformat()
    total = usage.spent_usd(svc, "deployment_id", deployment_id)
    today = usage.spent_usd(svc, "deployment_id", deployment_id, datetime.combine(now.date(), time.min, UTC))
    crossed = crossed_thresholds(budget, today, total, day)
    fresh: list[tuple[str, int, str]] = []

    def apply(d: Deployment) -> Deployment | None:
        if d.budget != budget:
            return None  # changed meanwhile: the next check uses the new one
        state = d.budget_state or BudgetState()
        fresh[:] = [c for c in crossed if c[0] not in state.sent]
        kept = [k for k in state.sent if k.startswith(("total:", f"day:{day}:"))]  # older days: done with
        state.sent = kept + [c[0] for c in fresh]
        state.spent_usd_today, state.spent_usd_total, state.updated_at = round(today, 6), round(total, 6), now
        over = [c for c in fresh if c[1] == 100]
        if over:
            state.exceeded, state.reason, state.action_taken = True, f"Budget reached: {over[0][2]}", budget.action
            if budget.action == "scale_to_zero" and d.min_replicas > 0:
                state.min_replicas_before = d.min_replicas
        d.budget_state = state
        return d

    after, _ = records.mutate(svc, deployment_id, apply)
    if after is None or not fresh:
        return []
    for key, pct, what in fresh:
        notify.announce(svc, after, EXCEEDED if pct == 100 else WARNING, occurrence=key)
        records.log(svc, deployment_id, "WARNING", f"Budget {pct} %: {what}")
    count_crossings(budget.action, fresh)
    if any(pct == 100 for _, pct, _ in fresh):
        enforce(svc, after, budget.action)
    return [c[0] for c in fresh]


def count_crossings(action: str, fresh: list[tuple[str, int, str]]) -> None:
    """GET /metrics' budget_actions: each threshold newly announced (warning, exceeded)."""
    for _, pct, _ in fresh:
        tally.count("budget_actions", action=action, event="exceeded" if pct == 100 else "warning")


def crossed_thresholds(budget: Budget, today: float, total: float, day: str) -> list[tuple[str, int, str]]:
    """(key naming the period and threshold, percent, what was spent of which limit) for every threshold reached."""
    out = []
    for name, limit, spent, period in (
        ("max_usd_per_day", budget.max_usd_per_day, today, f"day:{day}"),
        ("max_usd_total", budget.max_usd_total, total, "total"),
    ):
        if limit is None:
            continue
        for pct in THRESHOLDS:
            if spent >= limit * pct / 100:
                out.append((f"{period}:{pct}", pct, f"{spent:.4f} USD of {name} {limit:g} USD"))
    return out


def enforce(svc: Services, dep: Deployment, action: str, reason: str = "budget") -> None:
    """The action at 100 %: pause (workers 0/0, `paused_reason` = reason) or min workers 0."""
    if dep.status not in SERVING or action == "notify":
        return
    tally.count("budget_actions", action=action, event="enforced")
    if action == "pause":
        scaling.stop(svc, dep, reason=reason)
    elif dep.min_replicas > 0:
        scaling.scale(svc, dep, 0, dep.max_replicas)
    records.log(svc, dep.deployment_id, "WARNING", f"Budget action {action} enforced")


def set_budget(svc: Services, dep: Deployment, budget: Budget | None) -> None:
    """Replace the budget in place; its action is lifted, then the new budget is checked at once."""
    before = dep.budget_state

    def apply(d: Deployment) -> Deployment | None:
        d.budget = budget
        d.budget_state = BudgetState(reason="Budget changed", updated_at=svc.now()) if budget else None
        return d

    after, _ = records.mutate(svc, dep.deployment_id, apply)
    if after is None:
        return
    if after.status == Status.PAUSED and after.paused_reason == "budget":
        tally.count("budget_actions", action="pause", event="lifted")
        scaling.start(svc, after)
    elif before and before.min_replicas_before and after.status in SERVING and after.min_replicas == 0:
        tally.count("budget_actions", action="scale_to_zero", event="lifted")
        scaling.scale(svc, after, before.min_replicas_before, after.max_replicas)
    records.log(svc, dep.deployment_id, "INFO", "Budget changed: its action is lifted until it is reached again")
    check(svc, dep.deployment_id)
