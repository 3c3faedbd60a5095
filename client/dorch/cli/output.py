"""How commands print: a JSON document with --json; rich tables on a terminal; plain aligned lines
(no colours, no control characters) when stdout is a pipe or a file."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

CONTROL = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|[\x00-\x08\x0b-\x1f\x7f]")


def clean(value: Any) -> str:
    """A value as one printable line: no escape sequences or control characters."""
    if value is None:
        return "-"
    text = value.isoformat(timespec="seconds") if isinstance(value, datetime) else str(value)
    return CONTROL.sub("", text.replace("\n", " ").replace("\t", " "))


def until(moment: datetime | None) -> str:
    """ "42s", "3m 05s" or "1h 02m" from now until `moment`; "soon" once it has passed, "-" when unknown."""
    if moment is None:
        return "-"
    left = (moment - datetime.now(UTC)).total_seconds()
    return duration(left) if left > 0 else "soon"


def duration(seconds: float) -> str:
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m {whole % 60:02d}s"
    return f"{whole // 3600}h {whole % 3600 // 60:02d}m"


class Output:
    def __init__(self, as_json: bool, tty: bool | None = None) -> None:
        self.json = as_json
        self.tty = sys.stdout.isatty() if tty is None else tty
        self.console = Console(highlight=False) if self.tty else None
        self.err_console = Console(stderr=True, highlight=False)

    def data(self, value: Any) -> None:
        """The --json document (one line per document, so a stream of them is JSON Lines)."""
        click.echo(json.dumps(value, default=str, ensure_ascii=False))

    def line(self, text: str = "", style: str | None = None) -> None:
        if self.console is not None:
            self.console.print(Text(text, style=style or ""), soft_wrap=True)
        else:
            click.echo(clean(text) if text else "")

    def raw(self, text: str) -> None:
        """Text as it comes (streamed tokens): no newline, flushed."""
        click.echo(text if self.tty else CONTROL.sub("", text), nl=False)

    def table(self, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        rows = [[clean(v) for v in row] for row in rows]
        if self.console is not None:
            table = Table(*columns, header_style="bold", box=None, pad_edge=False)
            for row in rows:
                table.add_row(*(Text(v) for v in row))
            self.console.print(table)
            return
        widths = [max(len(c), *(len(r[i]) for r in rows)) if rows else len(c) for i, c in enumerate(columns)]
        for row in [list(columns), *rows]:
            click.echo("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())

    def fields(self, pairs: Iterable[tuple[str, Any]]) -> None:
        pairs = [(k, v) for k, v in pairs if v is not None and v != ""]
        width = max((len(k) for k, _ in pairs), default=0)
        for key, value in pairs:
            if self.console is not None:
                self.console.print(Text.assemble((key.ljust(width), "bold"), "  ", clean(value)), soft_wrap=True)
            else:
                click.echo(f"{key.ljust(width)}  {clean(value)}")

    def error(self, message: str) -> None:
        self.err_console.print(Text(f"error: {message}", style="red"), soft_wrap=True)

    def note(self, text: str) -> None:
        """A line on stderr (beside an error)."""
        self.err_console.print(Text(clean(text)), soft_wrap=True)
