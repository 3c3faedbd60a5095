"""The live display of `dorch deploy --wait`: a rich progress bar on a terminal (phase, percent, step,
elapsed, ETA, with log lines scrolling above it), plain timestamped lines otherwise."""

from __future__ import annotations

import time
from types import TracebackType

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskID, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.text import Text

from dorch.cli.output import Output, clean, until
from dorch.types import Progress as Status


def _step(update: Status) -> str:
    """The step running and the worker's last word, while there is one."""
    if update.eta is None and update.progress == 100:
        return ""
    return " · ".join(clean(x) for x in (update.step, update.message) if x)


class LiveDisplay:
    """A context manager; call it with each `Progress` update (it is `wait()`'s `on_progress`)."""

    def __init__(self, console: Console) -> None:
        self._bar = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.fields[phase]:<12}"),
            BarColumn(bar_width=30),
            TaskProgressColumn(),
            TextColumn("{task.fields[step]}"),
            TimeElapsedColumn(),
            TextColumn("ETA {task.fields[eta]}"),
            console=console,
        )
        self._task: TaskID = self._bar.add_task("deploy", total=100, phase="queued", step="", eta="-")

    def __call__(self, update: Status) -> None:
        if update.log is not None:
            line = update.log
            self._bar.console.print(Text(f"  {line.level:<7} {clean(line.message)}", style="dim"), soft_wrap=True)
            return
        self._bar.update(
            self._task,
            completed=update.progress,  # None leaves the bar where it was
            phase=update.phase or update.status,
            step=_step(update),
            eta=until(update.eta),
        )

    def __enter__(self) -> LiveDisplay:
        self._bar.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._bar.stop()


class PlainDisplay:
    """The same updates as lines: `[elapsed] percent phase step (ETA ...)` and `[elapsed]   LEVEL message`."""

    def __init__(self) -> None:
        self._started = time.monotonic()

    def __call__(self, update: Status) -> None:
        elapsed = f"[{time.monotonic() - self._started:6.1f}s]"
        if update.log is not None:
            click.echo(f"{elapsed}        {update.log.level:<7} {clean(update.log.message)}")
            return
        percent = f"{update.progress:3d}%" if update.progress is not None else "   -"
        eta = f"  ETA {until(update.eta)}" if update.eta else ""
        click.echo(f"{elapsed} {percent} {clean(update.phase or update.status):<12} {_step(update)}{eta}".rstrip())

    def __enter__(self) -> PlainDisplay:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def display_for(out: Output) -> LiveDisplay | PlainDisplay:
    return LiveDisplay(out.console) if out.console is not None else PlainDisplay()
