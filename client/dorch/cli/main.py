"""The console script `dorch`: the group with every command on it."""

from __future__ import annotations

from dorch.cli import account, calls, changes, demo, deploy, manage
from dorch.cli.app import cli

__all__ = ["cli", "main"]

for command in (
    deploy.deploy,
    manage.ls,
    manage.get,
    manage.logs,
    manage.rm,
    manage.scale,
    manage.pause,
    manage.resume,
    changes.update,
    changes.rollback,
    changes.tasks,
    changes.task,
    changes.usage,
    calls.run,
    calls.chat,
    account.credentials,
    account.models,
    account.completion,
    demo.demo,
):
    cli.add_command(command)


def main() -> None:
    """Entry point of the `dorch` console script."""
    cli(prog_name="dorch")
