"""`dorch deploy`: create a deployment and, with --wait, watch it become ready."""

from __future__ import annotations

import json
import os
import shlex
from typing import Any

import click

from dorch.cli.app import EXIT_FAILED, State, error_document, json_option, pass_state
from dorch.cli.output import clean
from dorch.cli.progress import display_for
from dorch.deployment import Deployment
from dorch.errors import DeploymentFailed, DorchError

FAILURE_LOG_LINES = 10


def parse_env(_ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]) -> dict[str, str]:
    pairs = {}
    for value in values:
        key, sep, val = value.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{value!r} is not KEY=VALUE")
        pairs[key] = val
    return pairs


@click.command()
@click.argument("model")
@click.option("--gpu", default="auto", show_default=True, help="auto, a GPU (A40, 4090, A100, ...) or a pool id.")
@click.option("--webhook", "webhook_url", metavar="URL", help="Called when it is ready, failed or deleted.")
@click.option("--name", help="A readable name, unique among your deployments.")
@click.option("--min", "min_replicas", type=click.IntRange(min=0), help="Workers kept warm once ready (default 0).")
@click.option("--max", "max_replicas", type=click.IntRange(min=1), help="Most workers at once (default 1).")
@click.option("--runpod-key", metavar="KEY", help="Your Runpod API key [env RUNPOD_API_KEY].")
@click.option("--credential", "credential_id", metavar="ID", help="A stored credential instead of a key.")
@click.option("--provider", help="With a registry model name (e.g. veo3): its provider.")
@click.option("--hf-token", envvar="HF_TOKEN", help="Hugging Face token for gated models [env HF_TOKEN].")
@click.option("--env", "env", multiple=True, metavar="KEY=VALUE", callback=parse_env, help="Extra worker environment.")
@click.option("--idempotency-key", help="Retrying with the same key never makes a second deployment.")
@click.option("--sandbox", is_flag=True, help="Deploy in the sandbox: a simulated Runpod, free, no key needed.")
@click.option("--wait", is_flag=True, help="Show live progress and return when it is ready (exit 1 if it fails).")
@click.option("--wait-timeout", type=float, metavar="SECONDS", help="Give up waiting after this long.")
@json_option
@pass_state
def deploy(
    state: State,
    model: str,
    runpod_key: str | None,
    credential_id: str | None,
    wait: bool,
    wait_timeout: float | None,
    sandbox: bool,
    **options: Any,
) -> None:
    """Deploy MODEL (a Hugging Face id such as stabilityai/sdxl-turbo, or a registry name).

    The Runpod key comes from --runpod-key, --credential or RUNPOD_API_KEY; with none of them your
    default stored credential is used.
    """
    if runpod_key and credential_id:
        raise click.UsageError("give --runpod-key or --credential, not both")
    if sandbox:
        if runpod_key or credential_id:
            raise click.UsageError("a sandbox deployment takes no --runpod-key or --credential")
        options["extra"] = {"sandbox": True}
    elif not credential_id:
        runpod_key = runpod_key or os.environ.get("RUNPOD_API_KEY") or None
    dep = state.client.deploy(model, runpod_key=runpod_key, credential_id=credential_id, **options)
    out = state.out
    if not wait:
        if out.json:
            out.data(dep.data)
        else:
            out.fields([("deployment", dep.id), ("status", dep.status), ("model", dep.model_id)])
            out.line(f"Follow it with: dorch logs {dep.id} -f   (or deploy with --wait)")
        return
    if not out.json:
        out.line(f"Deploying {dep.model_id} as {dep.id}")
    try:
        if out.json:
            dep.wait(wait_timeout)
        else:
            with display_for(out) as on_progress:
                dep.wait(wait_timeout, on_progress)
    except DeploymentFailed as exc:
        _report_failure(state, dep, exc)
        click.get_current_context().exit(EXIT_FAILED)
    _report_ready(state, dep)


def _report_ready(state: State, dep: Deployment) -> None:
    out = state.out
    if out.json:
        out.data(dep.data)
        return
    price = dep.price_per_hour
    out.line(f"Ready: {dep.id} ({dep.model_id})", style="bold green")
    out.fields(
        [
            ("endpoint", dep.endpoint_url),
            ("GPU", f"{dep.gpu} x{dep.data.get('gpu_count', 1)}" if dep.gpu else None),
            ("price/hour", f"${price:.2f} per worker" if price is not None else "unknown"),
            ("scaling", f"{dep.data.get('min_replicas', 0)}-{dep.data.get('max_replicas', 1)} workers"),
        ]
    )
    out.line()
    out.line("Call it:")
    for line in example_call(state.client.base_url, dep).splitlines():
        out.line(f"  {line}")


def example_call(base_url: str, dep: Deployment) -> str:
    """A ready-to-paste curl for this deployment (the API key read from $DORCH_API_KEY)."""
    if dep.is_llm:
        url = f"{base_url}/v1/chat/completions"
        body: dict[str, Any] = {"model": dep.model_id, "messages": [{"role": "user", "content": "Hello!"}]}
    else:
        url = f"{base_url}/v1/deployments/{dep.id}/runsync"
        body = {"input": {"prompt": "a lighthouse at dawn"}}
    return (
        f"curl -X POST {shlex.quote(url)} \\\n"
        '  -H "Authorization: Bearer $DORCH_API_KEY" -H "Content-Type: application/json" \\\n'
        f"  -d {shlex.quote(json.dumps(body))}"
    )


def _report_failure(state: State, dep: Deployment, exc: DeploymentFailed) -> None:
    try:
        lines = list(dep.logs(tail=FAILURE_LOG_LINES))
    except DorchError:
        lines = []
    out = state.out
    if out.json:
        out.data({**error_document(exc), "logs": [line.raw for line in lines]})
        return
    out.error(f"deployment {dep.id} failed: {exc.code}" + (f" (step {exc.step})" if exc.step else ""))
    out.note(f"  {exc.message}")
    if lines:
        out.note("Last log lines:")
        for line in lines:
            out.note(f"  {clean(line.timestamp)} {line.level:<7} {line.message}")
