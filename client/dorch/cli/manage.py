"""Commands on existing deployments: ls, get, logs, rm, scale, pause, resume."""

from __future__ import annotations

import itertools
from typing import Any

import click

from dorch.cli.app import State, json_option, pass_state
from dorch.cli.output import clean
from dorch.types import LogLine

LS_COLUMNS = ("ID", "NAME", "STATUS", "MODEL", "GPU", "CREATED")


@click.command()
@click.option("--status", help="Only deployments in this status (ready, failed, ...).")
@click.option("--model", help="Only deployments of this model id.")
@click.option("--limit", type=click.IntRange(min=1), help="At most this many (newest first).")
@json_option
@pass_state
def ls(state: State, status: str | None, model: str | None, limit: int | None) -> None:
    """List your deployments, newest first."""
    found = list(itertools.islice(state.client.deployments(status=status, model=model), limit))
    if state.out.json:
        state.out.data([d.data for d in found])
        return
    rows = [(d.id, d.name, d.status, d.model_id, d.gpu, d.data.get("created_at")) for d in found]
    state.out.table(LS_COLUMNS, rows)


@click.command()
@click.argument("deployment_id")
@json_option
@pass_state
def get(state: State, deployment_id: str) -> None:
    """Show one deployment."""
    dep = state.client.get(deployment_id)
    if state.out.json:
        state.out.data(dep.data)
        return
    data = dep.data
    error = dep.error
    state.out.fields(
        [
            ("deployment", dep.id),
            ("name", dep.name),
            ("status", dep.status),
            ("phase", f"{dep.phase} ({dep.progress}%)" if dep.progress is not None else dep.phase),
            ("model", dep.model_id),
            ("GPU", f"{dep.gpu} x{data.get('gpu_count', 1)}" if dep.gpu else None),
            ("price/hour", f"${dep.price_per_hour:.2f}" if dep.price_per_hour is not None else None),
            ("scaling", f"{data.get('min_replicas')}-{data.get('max_replicas')} workers"),
            ("endpoint", dep.endpoint_url),
            ("created", data.get("created_at")),
            ("ready", data.get("ready_at")),
            ("error", f"{error.code}: {error.message}" if error else None),
        ]
    )


def _log_text(line: LogLine) -> str:
    source = "" if line.source == "orchestrator" else f"[{line.source}] "
    return f"{clean(line.timestamp)}  {line.level:<7} {source}{clean(line.message)}"


@click.command()
@click.argument("deployment_id")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines until it is deleted (Ctrl-C stops).")
@click.option("--tail", type=click.IntRange(1, 5000), help="Only the last N lines (default 100 without -f).")
@json_option
@pass_state
def logs(state: State, deployment_id: str, follow: bool, tail: int | None) -> None:
    """Print a deployment's log (with --json: one JSON object per line)."""
    dep = state.client.deployment(deployment_id)
    for line in dep.logs(follow=follow, tail=tail):
        if state.out.json:
            state.out.data(line.raw)
        else:
            state.out.line(_log_text(line))


@click.command()
@click.argument("deployment_id")
@click.option("--wait", is_flag=True, help="Return once its Runpod endpoint is verified gone.")
@json_option
@pass_state
def rm(state: State, deployment_id: str, wait: bool) -> None:
    """Delete a deployment and its Runpod endpoint."""
    dep = state.client.deployment(deployment_id)
    dep.delete(wait=wait)
    status = "deleted" if wait else "deleting"
    if state.out.json:
        state.out.data({"deployment_id": deployment_id, "status": status})
    else:
        state.out.line(f"{deployment_id} {status}")


def _lifecycle(state: State, answer: dict[str, Any]) -> None:
    if state.out.json:
        state.out.data(answer)
    else:
        state.out.line(str(answer.get("message", "ok")))


@click.command()
@click.argument("deployment_id")
@click.argument("min_replicas", type=click.IntRange(min=0))
@click.argument("max_replicas", type=click.IntRange(min=1))
@json_option
@pass_state
def scale(state: State, deployment_id: str, min_replicas: int, max_replicas: int) -> None:
    """Set the workers kept warm (MIN) and the most at once (MAX)."""
    _lifecycle(state, state.client.deployment(deployment_id).scale(min_replicas, max_replicas))


@click.command()
@click.argument("deployment_id")
@json_option
@pass_state
def pause(state: State, deployment_id: str) -> None:
    """Stop every worker; the endpoint and its URL stay."""
    _lifecycle(state, state.client.deployment(deployment_id).pause())


@click.command()
@click.argument("deployment_id")
@json_option
@pass_state
def resume(state: State, deployment_id: str) -> None:
    """Restore the scaling a pause stopped."""
    _lifecycle(state, state.client.deployment(deployment_id).resume())
