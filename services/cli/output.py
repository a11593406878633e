"""How commands print: ``-o table|wide|json|yaml`` (``--json``), colour, stdout vs stderr.

Data goes to stdout (tables for people, JSON/YAML for scripts); messages for people go
to stderr through :func:`note`. ``--color`` on the root command chooses colour: ``auto``
(the default) colours a terminal unless ``NO_COLOR`` is set, ``always``/``never`` win
over the environment (as no-color.org asks of an explicit flag).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, Literal, TypeVar

import click
import yaml
from rich.console import Console, RenderableType
from rich.table import Table
from rich.text import Text

F = TypeVar("F", bound=Callable[..., Any])
Format = Literal["table", "wide", "json", "yaml"]
FORMATS: Final = ("table", "wide", "json", "yaml")
COLORS: Final = ("auto", "always", "never")
_COLOR_META: Final = "watchkeeper.color"
PIPE_WIDTH: Final = 160
"""Width of tables written to a pipe or file (Rich would wrap them at 80)."""


def output_option(command: F) -> F:
    """Add ``-o/--output`` and its synonym ``--json`` (both set the ``output`` argument)."""
    command = click.option("--json", "output", flag_value="json", help="Same as -o json.")(command)
    return click.option(
        "-o", "--output", "output", type=click.Choice(FORMATS), default="table",
        show_default=True, help="Output format.",
    )(command)  # fmt: skip


def set_color(ctx: click.Context, _param: click.Parameter, value: str) -> str:
    """``--color`` callback: remembered for every console this invocation makes."""
    ctx.meta[_COLOR_META] = value
    return value


COLOR_OPTION = click.option(
    "--color", type=click.Choice(COLORS), default="auto", show_default=True, expose_value=False,
    envvar="WATCHKEEPER_COLOR",
    is_eager=True, callback=set_color, help="Colour output (auto honours NO_COLOR).",
)  # fmt: skip


def console(*, stderr: bool = False) -> Console:
    """A Rich console on stdout (or stderr) following ``--color``."""
    ctx = click.get_current_context(silent=True)
    mode = ctx.meta.get(_COLOR_META, "auto") if ctx is not None else "auto"
    options: dict[str, Any] = {"stderr": stderr, "highlight": False}
    if mode == "always":
        options |= {"force_terminal": True, "no_color": False}
    elif mode == "never" or os.environ.get("NO_COLOR"):
        # Rich's own NO_COLOR handling keeps bold and underline; no escapes at all is asked.
        options |= {"no_color": True, "color_system": None}
    stream = sys.stderr if stderr else sys.stdout
    if not stream.isatty() and "COLUMNS" not in os.environ:
        options["width"] = PIPE_WIDTH  # also under --color always: a pipe has no width
    return Console(**options)


def note(message: str) -> None:
    """A message for people (stderr, never mixed with data)."""
    console(stderr=True).print(message, markup=False)


def emit(data: Any, output: str, table: Callable[[bool], RenderableType]) -> None:
    """Print ``data`` as JSON/YAML, or the renderable ``table(wide)`` for people."""
    if output == "json":
        click.echo(json.dumps(data, indent=2, default=str))
    elif output == "yaml":
        plain = json.loads(json.dumps(data, default=str))  # the JSON's values (enums as text)
        click.echo(yaml.safe_dump(plain, sort_keys=False, allow_unicode=True), nl=False)
    else:
        console().print(table(output == "wide"))


def make_table(
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    title: str | None = None,
    header: bool = True,
) -> Table:
    """A borderless table; cells are plain text (``None`` prints as ``-``) unless they are
    already Rich ``Text`` (a styled status)."""
    table = Table(*columns, title=title, title_justify="left", box=None, header_style="bold",
                  show_header=header)  # fmt: skip
    for row in rows:
        table.add_row(*(_cell(cell) for cell in row))
    return table


def _cell(value: Any) -> Text:
    if isinstance(value, Text):
        return value
    return Text("-" if value is None else str(value))


def stamp(epoch: float | None) -> str | None:
    """``2026-01-05 02:00:00Z`` for an epoch, None for None."""
    if epoch is None:
        return None
    return time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(epoch))


STATUS_STYLES: Final[Mapping[str, str]] = {
    "succeeded": "green", "failed": "red", "timed_out": "red", "dead_lettered": "red",
    "rolled_back": "yellow", "cancelled": "yellow", "skipped": "dim", "running": "cyan",
}  # fmt: skip


def styled_status(status: str | None) -> Text:
    """A run status coloured by outcome (``-`` for none)."""
    return Text(status or "-", style=STATUS_STYLES.get(status or "", ""))
