"""The `dorch` group and what its commands share: connection options, --json, and one exit code per kind of failure.

Exit codes: 0 ok; 1 the deployment failed (or another error); 2 usage or an invalid request;
3 authentication; 4 not found; 130 interrupted.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any, TypeVar

import click

from dorch.cli.output import Output
from dorch.client import Client
from dorch.errors import (
    ApiError,
    BadRequest,
    DeploymentFailed,
    DorchError,
    NotFound,
    Unauthorized,
    ValidationFailed,
)

EXIT_FAILED, EXIT_USAGE, EXIT_AUTH, EXIT_NOT_FOUND, EXIT_INTERRUPTED = 1, 2, 3, 4, 130
F = TypeVar("F", bound=Callable[..., Any])


class State:
    """What every command gets: the client (made on first use) and the output mode."""

    def __init__(self, url: str | None, api_key: str | None, timeout: float | None) -> None:
        self._args = (url, api_key, timeout)
        self._client: Client | None = None
        self.out = Output(as_json=False)

    @property
    def client(self) -> Client:
        if self._client is None:
            url, key, timeout = self._args
            self._client = Client(url, key, timeout=timeout)
        return self._client

    def use_key_if_missing(self, key: str | None) -> None:
        """Use `key` unless a key was given (--api-key or DORCH_API_KEY); before the client is made."""
        url, given, timeout = self._args
        if key and not given and self._client is None:
            self._args = (url, key, timeout)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


def exit_code(exc: DorchError) -> int:
    if isinstance(exc, Unauthorized):
        return EXIT_AUTH
    if isinstance(exc, NotFound):
        return EXIT_NOT_FOUND
    if isinstance(exc, ValidationFailed | BadRequest):
        return EXIT_USAGE
    return EXIT_FAILED


def error_document(exc: DorchError) -> dict[str, Any]:
    if isinstance(exc, ApiError):
        return {"error": exc.error, "status": exc.status, "message": exc.message, "details": exc.details}
    if isinstance(exc, DeploymentFailed):
        return {"error": "DeploymentFailed", "deployment_id": exc.deployment_id, "code": exc.code,
                "message": exc.message, "step": exc.step, "retryable": exc.retryable}  # fmt: skip
    return {"error": type(exc).__name__, "message": exc.message}


class DorchGroup(click.Group):
    """Turns the SDK's exceptions into a message (or a JSON error document) and an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except DorchError as exc:
            state = ctx.find_object(State)
            out = state.out if state else Output(as_json=False)
            if out.json:
                out.data(error_document(exc))
            else:
                out.error(str(exc))
            ctx.exit(exit_code(exc))
        except KeyboardInterrupt:
            ctx.exit(EXIT_INTERRUPTED)


def json_option(func: F) -> F:
    """--json: print a JSON document instead of text (the same on every command)."""

    def remember(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
        state = ctx.find_object(State)
        if state is not None:
            state.out = Output(as_json=value)
        return value

    option = click.option(
        "--json", "as_json", is_flag=True, expose_value=False, callback=remember, is_eager=True,
        help="Print JSON (for scripts) instead of text.",
    )  # fmt: skip
    return option(func)


def pass_state(func: Callable[..., Any]) -> Callable[..., Any]:
    """The command gets the `State` as its first argument."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return func(click.get_current_context().ensure_object(State), *args, **kwargs)

    return wrapper


def parse_json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise click.BadParameter(f"not valid JSON: {exc}", param_hint=what) from None


@click.group(cls=DorchGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--url", envvar="DORCH_URL", help="API base URL [env DORCH_URL; default http://127.0.0.1:8080].")
@click.option("--api-key", envvar="DORCH_API_KEY", help="API key [env DORCH_API_KEY].")
@click.option("--timeout", type=float, help="Seconds for each API call (default 30).")
@click.version_option(package_name="deployment-orchestrator-client", prog_name="dorch")
@click.pass_context
def cli(ctx: click.Context, url: str | None, api_key: str | None, timeout: float | None) -> None:
    """Deploy Hugging Face models to Runpod Serverless with deployment-orchestrator, and call them."""
    state = State(url, api_key, timeout)
    ctx.obj = state
    ctx.call_on_close(state.close)
