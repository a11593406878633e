"""``watchkeeper init`` (a commented starter config) and ``completion <shell>``."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Final

import click
from click.shell_completion import get_completion_class

from services.cli.config import DEFAULT_CONFIG, load
from services.cli.exits import CliError
from services.cli.output import note

PROFILES: Final = ("basic", "trading")
SHELLS: Final = ("bash", "zsh", "fish")
COMPLETE_VAR: Final = "_WATCHKEEPER_COMPLETE"
"""The variable click's completion scripts set when they call ``watchkeeper`` back."""


def starter(profile: str) -> str:
    """The text of a starter config (package data under ``services/cli/starters``)."""
    return resources.files("services.cli").joinpath("starters", f"{profile}.yml").read_text()


@click.command()
@click.option("--profile", type=click.Choice(PROFILES), default="basic", show_default=True,
              help="basic: health, cleanup, rotation; trading: market-hours desk.")  # fmt: skip
@click.option("-f", "--file", "path", type=click.Path(dir_okay=False, path_type=Path),
              default=DEFAULT_CONFIG, show_default=True, help="Where to write it.")  # fmt: skip
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def init(profile: str, path: Path, force: bool) -> None:
    """Write a commented starter config with default tasks (validated before it is kept)."""
    if path.exists() and not force:
        raise CliError(f"{path} exists; use --force to overwrite it")
    try:
        path.write_text(starter(profile))
    except OSError as exc:
        raise CliError(f"cannot write {path}: {exc.strerror}") from None
    loaded = load(path)  # a starter that does not validate is a bug: exit 2, say where
    note(f"wrote {path} (profile {profile}, {len(loaded.config.tasks)} tasks); next: "
         f"watchkeeper validate -c {path} && watchkeeper up -c {path}")  # fmt: skip
    click.echo(str(path))


@click.command()
@click.argument("shell", type=click.Choice(SHELLS))
@click.pass_context
def completion(ctx: click.Context, shell: str) -> None:
    """Print the shell completion script, e.g. `eval "$(watchkeeper completion bash)"`."""
    root = ctx.find_root().command
    complete = get_completion_class(shell)
    if complete is None:  # click knows every choice above; kept for a clear failure
        raise click.UsageError(f"no completion for {shell}")
    click.echo(complete(root, {}, "watchkeeper", COMPLETE_VAR).source())
