"""Calling a model: `dorch run` (a Runpod job) and `dorch chat` (the OpenAI-compatible route)."""

from __future__ import annotations

from typing import Any

import click

from dorch.cli.app import State, json_option, parse_json, pass_state


@click.command()
@click.argument("deployment_id")
@click.option(
    "--input", "input_json", required=True, metavar="JSON", help='The job input, e.g. \'{"prompt": "a cat"}\'.'
)
@click.option("--sync", is_flag=True, help="Wait for the output (runsync) instead of queueing.")
@click.option("--wait", "wait_seconds", type=click.FloatRange(1, 120), default=60, show_default=True,
              help="With --sync: seconds to wait for the output.")  # fmt: skip
@json_option
@pass_state
def run(state: State, deployment_id: str, input_json: str, sync: bool, wait_seconds: float) -> None:
    """Run a job on a deployment's endpoint."""
    job_input = parse_json(input_json, "--input")
    dep = state.client.deployment(deployment_id)
    job = dep.run_sync(job_input, wait_seconds) if sync else dep.run(job_input)
    if state.out.json:
        state.out.data(job.raw)
        return
    state.out.fields([("job", job.id), ("status", job.status), ("error", job.error)])
    if job.output is not None:
        state.out.line(click.style("output", bold=True) if state.out.tty else "output")
        state.out.data(job.output)
    elif not sync:
        state.out.line(f"Poll it: curl {state.client.base_url}/v1/deployments/{deployment_id}/jobs/{job.id}")


@click.command()
@click.argument("model")
@click.argument("prompt")
@click.option("--system", help="A system message before the prompt.")
@click.option("--max-tokens", type=click.IntRange(min=1), help="Most tokens to generate.")
@click.option("--temperature", type=float)
@json_option
@pass_state
def chat(
    state: State, model: str, prompt: str, system: str | None, max_tokens: int | None, temperature: float | None
) -> None:
    """Send PROMPT to your ready deployment of MODEL and stream the answer (--json: the whole completion)."""
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]
    params: dict[str, Any] = {
        k: v for k, v in (("max_tokens", max_tokens), ("temperature", temperature)) if v is not None
    }
    if state.out.json:
        state.out.data(state.client.chat(model, messages, **params))
        return
    for text in state.client.chat_stream(model, messages, **params):
        state.out.raw(text)
    state.out.raw("\n")
