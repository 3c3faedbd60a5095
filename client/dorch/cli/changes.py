"""Commands that change a serving deployment and follow the change: update, rollback, tasks, task; and usage."""

from __future__ import annotations

from typing import Any

import click

from dorch.cli.app import State, json_option, pass_state
from dorch.cli.deploy import parse_env
from dorch.types import Task, UpdateOptions

TASK_COLUMNS = ("TASK", "KIND", "STATUS", "CREATED", "COMPLETED", "ERROR")
WAIT_HELP = "Return once the task finished (exit 1 if it failed: the previous generation keeps serving)."


def _show_task(state: State, task: Task) -> None:
    if state.out.json:
        state.out.data(task.raw)
        return
    error = task.error or {}
    state.out.fields(
        [
            ("task", task.task_id),
            ("kind", task.kind),
            ("status", task.status),
            ("deployment", task.deployment_id),
            ("generation", (task.metadata or {}).get("generation")),
            ("error", f"{error.get('code')}: {error.get('message')}" if error else None),
        ]
    )


@click.command()
@click.argument("deployment_id")
@click.option("--model", "hf_model_id", metavar="ORG/NAME", help="Serve another Hugging Face model.")
@click.option("--revision", help="A commit, branch or tag of the model.")
@click.option("--gpu", "gpu_tier", help="auto, a GPU (A40, 4090, ...) or a pool id.")
@click.option("--gpu-count", type=click.IntRange(1, 8), help="GPUs per worker.")
@click.option("--env", "env", multiple=True, metavar="KEY=VALUE", callback=parse_env,
              help="The worker's extra environment (replaces it).")  # fmt: skip
@click.option("--idle-timeout", "idle_timeout_seconds", type=click.IntRange(1, 3600), help="Seconds a worker idles.")
@click.option("--min", "min_replicas", type=click.IntRange(min=0), help="Workers kept warm.")
@click.option("--max", "max_replicas", type=click.IntRange(min=1), help="Most workers at once.")
@click.option("--wait", is_flag=True, help=WAIT_HELP)
@click.option("--wait-timeout", type=float, metavar="SECONDS", help="Give up waiting after this long.")
@json_option
@pass_state
def update(state: State, deployment_id: str, wait: bool, wait_timeout: float | None, **changes: Any) -> None:
    """Change a serving deployment with no downtime: --min/--max/--idle-timeout in place, the rest green."""
    given: UpdateOptions = {k: v for k, v in changes.items() if v not in (None, {})}  # type: ignore[assignment]
    if not given:
        raise click.UsageError("nothing to change: give at least one option")
    task = state.client.deployment(deployment_id).update(wait=wait, timeout=wait_timeout, **given)
    _show_task(state, task)


@click.command()
@click.argument("deployment_id")
@click.option("--wait", is_flag=True, help=WAIT_HELP)
@click.option("--wait-timeout", type=float, metavar="SECONDS", help="Give up waiting after this long.")
@json_option
@pass_state
def rollback(state: State, deployment_id: str, wait: bool, wait_timeout: float | None) -> None:
    """Bring back the previous generation's configuration (green, no downtime)."""
    _show_task(state, state.client.deployment(deployment_id).rollback(wait=wait, timeout=wait_timeout))


@click.command()
@click.argument("deployment_id")
@json_option
@pass_state
def tasks(state: State, deployment_id: str) -> None:
    """List a deployment's tasks (deploy, updates, rollbacks, delete), oldest first."""
    found = state.client.deployment(deployment_id).tasks()
    if state.out.json:
        state.out.data([t.raw for t in found])
        return
    rows = [(t.task_id, t.kind, t.status, t.created_at, t.completed_at, (t.error or {}).get("code")) for t in found]
    state.out.table(TASK_COLUMNS, rows)


@click.command()
@click.argument("task_id")
@click.option("--wait", is_flag=True, help="Return once it finished (exit 1 if it failed).")
@click.option("--wait-timeout", type=float, metavar="SECONDS", help="Give up waiting after this long.")
@json_option
@pass_state
def task(state: State, task_id: str, wait: bool, wait_timeout: float | None) -> None:
    """Show one task (its id is in the X-Task-Id header and in `dorch tasks`)."""
    _show_task(state, state.client.task(task_id, wait=wait, timeout=wait_timeout))


@click.command()
@click.option("--from", "start", metavar="TIME", help="ISO-8601 start (default: 30 days ago).")
@click.option("--to", "end", metavar="TIME", help="ISO-8601 end (default: now).")
@click.option("--group-by", type=click.Choice(["deployment", "day", "model"]), default="deployment", show_default=True)
@json_option
@pass_state
def usage(state: State, start: str | None, end: str | None, group_by: str) -> None:
    """Metered GPU time and its price, grouped."""
    rows, total = state.client.usage(start, end, group_by)
    if state.out.json:
        state.out.data({"data": [r.raw for r in rows], "total": total.raw})
        return
    shown = [(r.key, f"{r.gpu_seconds:.0f}", f"${r.usd:.4f}") for r in [*rows, total]]
    state.out.table((group_by.upper(), "GPU-SECONDS", "USD"), shown)
