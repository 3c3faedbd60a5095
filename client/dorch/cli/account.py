"""Account commands: stored Runpod credentials, the models you can call or deploy, shell completion."""

from __future__ import annotations

import os

import click
from click.shell_completion import get_completion_class

from dorch.cli.app import State, json_option, pass_state
from dorch.types import Credential

CREDENTIAL_COLUMNS = ("ID", "NAME", "KEY", "DEFAULT", "VALID")


@click.group()
def credentials() -> None:
    """Stored Runpod API keys (encrypted by the API, shown masked)."""


def _show(state: State, cred: Credential) -> None:
    if state.out.json:
        state.out.data(cred.raw)
    else:
        state.out.table(CREDENTIAL_COLUMNS, [_row(cred)])


def _row(cred: Credential) -> tuple[str, str, str, str, str]:
    valid = "-" if cred.is_valid is None else ("yes" if cred.is_valid else "no")
    return cred.id, cred.name, cred.masked_key, "yes" if cred.is_default else "", valid


@credentials.command("add")
@click.argument("api_key", required=False)
@click.option("--name", help="A label for it.")
@click.option("--default", "make_default", is_flag=True, help="Use it for deployments that name no key.")
@json_option
@pass_state
def credentials_add(state: State, api_key: str | None, name: str | None, make_default: bool) -> None:
    """Store a Runpod API key (from API_KEY, RUNPOD_API_KEY, or a prompt). The first one becomes the default."""
    key = api_key or os.environ.get("RUNPOD_API_KEY") or click.prompt("Runpod API key", hide_input=True)
    _show(state, state.client.credentials.add(key, name=name, default=make_default))


@credentials.command("ls")
@json_option
@pass_state
def credentials_ls(state: State) -> None:
    """List stored credentials."""
    found = state.client.credentials.list()
    if state.out.json:
        state.out.data([c.raw for c in found])
    else:
        state.out.table(CREDENTIAL_COLUMNS, [_row(c) for c in found])


@credentials.command("rm")
@click.argument("credential_id")
@json_option
@pass_state
def credentials_rm(state: State, credential_id: str) -> None:
    """Delete a stored credential (refused while deployments use it)."""
    state.client.credentials.delete(credential_id)
    if state.out.json:
        state.out.data({"id": credential_id, "deleted": True})
    else:
        state.out.line(f"{credential_id} deleted")


@credentials.command("default")
@click.argument("credential_id")
@json_option
@pass_state
def credentials_default(state: State, credential_id: str) -> None:
    """Make a credential the default for new deployments."""
    _show(state, state.client.credentials.set_default(credential_id))


@click.command()
@json_option
@pass_state
def models(state: State) -> None:
    """Models you can call now (ready) and the registry names you can deploy."""
    found = state.client.models()
    if state.out.json:
        state.out.data([m.raw for m in found])
        return
    rows = []
    for m in found:
        names = ", ".join(
            f"{d.get('model_name')}" + (f" ({d['provider']})" if d.get("provider") else "")
            for d in m.deployable_as or []
        )
        rows.append((m.id, "yes" if m.ready else "", m.deployment_id, names))
    state.out.table(("MODEL", "READY", "DEPLOYMENT", "DEPLOY AS"), rows)


@click.command()
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print the shell completion script: eval "$(dorch completion bash)" (or put it in your shell's rc)."""
    cls = get_completion_class(shell)
    if cls is None:  # pragma: no cover - the choices are all built into click
        raise click.UsageError(f"no completion for {shell}")
    root = click.get_current_context().find_root().command
    click.echo(cls(root, {}, "dorch", "_DORCH_COMPLETE").source())
