"""`dorch demo`: the whole product in a minute, with no Runpod key, GPU or network: deploy a model in the
sandbox (a simulated Runpod built into the server), watch it become ready, call it, delete it."""

from __future__ import annotations

import base64
import os
import time
from pathlib import Path
from typing import Any

import click

from dorch.cli.app import EXIT_FAILED, State, pass_state
from dorch.cli.output import duration
from dorch.cli.progress import display_for
from dorch.deployment import Deployment
from dorch.errors import DeploymentFailed

DEFAULT_MODEL = "stabilityai/sdxl-turbo"
SCENARIOS = ("ok", "crash_loop", "no_capacity", "slow_start")


def local_key() -> str | None:
    """The key `make run` generated for this checkout (DATA_DIR/api_key), when no key was given."""
    path = Path(os.environ.get("DATA_DIR") or ".data") / "api_key"
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


@click.command()
@click.option("--model", default=DEFAULT_MODEL, show_default=True, help="A Hugging Face model id to deploy.")
@click.option("--scenario", type=click.Choice(SCENARIOS), default="ok", show_default=True,
              help="What the simulated worker does (rehearse failures).")  # fmt: skip
@click.option("--prompt", default="a lighthouse at dawn", show_default=True, help="What to ask the model.")
@click.option("--image", "image_path", default="sandbox-demo.png", show_default=True, type=click.Path(),
              help="Where an image model's answer is saved.")  # fmt: skip
@click.option("--keep", is_flag=True, help="Keep the deployment instead of deleting it at the end.")
@click.option("--wait-timeout", type=float, default=300, show_default=True, metavar="SECONDS")
@pass_state
def demo(
    state: State, model: str, scenario: str, prompt: str, image_path: str, keep: bool, wait_timeout: float
) -> None:
    """Deploy MODEL in the sandbox, watch it become ready, call it and delete it (free; no Runpod key).

    Without --api-key or DORCH_API_KEY, the key `make run` wrote to .data/api_key is used.
    """
    state.use_key_if_missing(local_key())
    out = state.out
    started = time.monotonic()
    dep = state.client.deploy(model, extra={"sandbox": {"scenario": scenario}})
    out.line(f"Deploying {dep.model_id} in the sandbox as {dep.id} (scenario {scenario})", style="bold")
    try:
        with display_for(out) as on_progress:
            dep.wait(wait_timeout, on_progress)
    except DeploymentFailed as exc:
        out.error(f"{dep.id} failed as the scenario asked: {exc.code}: {exc.message}")
        _finish(state, dep, keep)
        click.get_current_context().exit(EXIT_FAILED)
    out.line(f"Ready in {duration(time.monotonic() - started)}", style="bold green")
    try:
        _call(state, dep, prompt, Path(image_path))
    finally:
        _finish(state, dep, keep)


def _call(state: State, dep: Deployment, prompt: str, image_path: Path) -> None:
    out = state.out
    if dep.is_llm:
        out.line(f"Chat with {dep.model_id}: {prompt}")
        messages = [{"role": "user", "content": prompt}]
        for text in state.client.chat_stream(dep.model_id, messages):
            out.raw(text)
        out.raw("\n")
        return
    job = dep.run_sync({"prompt": prompt, "width": 128, "height": 128})
    output: Any = job.output
    images = output.get("images") if isinstance(output, dict) else None
    if images:
        image_path.write_bytes(base64.b64decode(images[0]))
        out.line(f"Job {job.id} {job.status}: image saved to {image_path} ({image_path.stat().st_size} bytes)")
    else:
        out.line(f"Job {job.id} {job.status}:")
        out.data(output)


def _finish(state: State, dep: Deployment, keep: bool) -> None:
    if keep:
        state.out.line(f"Kept {dep.id}; delete it with: dorch rm {dep.id}")
        return
    dep.delete(wait=True, timeout=60)
    state.out.line(f"Deleted {dep.id}")
