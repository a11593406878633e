"""The ``watchkeeper`` command."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import click

from services.api.auth import InsecureBind, check_bind
from services.api.service import ApiService
from services.cli import alerts_cmd, schedule_cmds
from services.cli.api_client import API_OPTIONS
from services.cli.cancel_cmd import cancel_command
from services.cli.cleanup_cmd import cleanup_command
from services.cli.config import (
    CONFIG_OPTION,
    cli_clock,
    discover,
    load,
    refuse_api,
    setup_logging,
    with_redis,
)
from services.cli.dashboard_cmd import dashboard
from services.cli.deadletters_cmd import dead_letters
from services.cli.exits import ExitMappingGroup
from services.cli.healthcheck import healthcheck
from services.cli.history_cmd import history_command
from services.cli.output import COLOR_OPTION
from services.cli.report_cmd import report_command
from services.cli.rollbacks_cmd import rollbacks
from services.cli.run_cmd import run_all_command, run_command, trigger_command
from services.cli.runtime import (
    Service,
    apply_config,
    definitions_for,
    install_stop_signals,
    redis_for,
    run_services,
    serve,
    with_archive,
)
from services.cli.setup_cmds import completion, init
from services.cli.status_cmd import schedule, status
from services.cli.tasks_cmds import pause, resume, tasks
from services.executor.service import Executor
from services.reporter.archive.service import Archiver
from services.reporter.notifier.service import Notifier
from services.reporter.service import Reporter
from services.scheduler.service import Scheduler
from shared.config import taskdefs
from shared.config.models import Config
from shared.runtime import priority
from shared.runtime.collector import release_memory
from shared.runtime.logging import configure_logging, get_logger

log = get_logger("watchkeeper.cli")


@click.group(cls=ExitMappingGroup, context_settings={"help_option_names": ["-h", "--help"]})
@COLOR_OPTION
@API_OPTIONS[0]
@API_OPTIONS[1]
def cli() -> None:
    """Watchkeeper: maintenance and health-check scheduling over Redis Streams."""


@cli.command()
@CONFIG_OPTION
def validate(config_path: str | None) -> None:
    """Check a config file; list every error with its path (exit 2 when invalid)."""
    loaded = load(config_path)
    for warning in loaded.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(f"{discover(config_path) or 'defaults'}: valid ({len(loaded.config.tasks)} tasks)")


@cli.command()
@CONFIG_OPTION
@click.option("--keep", is_flag=True, help="Keep tasks that are in Redis but not in the file.")
def apply(config_path: str | None, keep: bool) -> None:
    """Sync the file's task definitions into Redis (the scheduler picks them up live)."""
    config = load(config_path).config
    changes = with_redis(config, lambda r, k: taskdefs.apply(r, k, config, prune=not keep))
    for name, change in sorted(changes.items()):
        click.echo(f"{change:>9}  {name}")
    counts = {c: list(changes.values()).count(c) for c in ("created", "updated", "deleted")}
    click.echo(", ".join(f"{n} {c}" for c, n in counts.items()) + f" ({len(changes)} tasks)")


def _announce(text: str) -> None:
    click.echo(text, err=True)


async def _serve(
    config: Config, definitions: taskdefs.Packed, names: tuple[str, ...], *, embedded: bool
) -> None:
    clock = cli_clock()
    stop = asyncio.Event()
    install_stop_signals(stop)
    loop = type(asyncio.get_running_loop())
    log.info("services.starting", services=list(names), loop=f"{loop.__module__}.{loop.__name__}")
    async with redis_for(config, embedded=embedded, announce=_announce) as r:
        if "scheduler" in names:
            # `up` owns its Redis: the file is the whole truth. A standalone scheduler
            # replica only adds/updates its file's tasks, never deletes ones made elsewhere.
            # Only the count is kept: this frame lives as long as the services.
            applied = len(await apply_config(r, config, definitions, prune=embedded))
            _announce(f"Tasks:     {applied} applied from the config")
        factories: dict[str, Callable[[], Service]] = {
            "scheduler": lambda: Scheduler(r, config, clock=clock, definitions=definitions).run,
            "executor": lambda: Executor(r, config, clock=clock).run,
            "reporter": lambda: Reporter(r, config, clock=clock).run,
            "notifier": lambda: Notifier(r, config, clock=clock).run,
            "api": lambda: ApiService(r, config, clock=clock).run,
            "archive": lambda: Archiver(r, config, clock=clock).run,
        }
        if "api" in names:
            _announce(f"API:       http://{config.api.host}:{config.api.port}/healthz")
        await run_services([factories[n]() for n in with_archive(names, config)], stop)
    _announce("stopped")


def _run(config_path: str | None, names: tuple[str, ...], *, embedded: bool = False) -> None:
    refuse_api()  # a service given --api would quietly serve from Redis all the same
    loaded = load(config_path)
    if "api" in names:
        try:
            check_bind(loaded.config.api)
        except InsecureBind as exc:
            raise click.ClickException(str(exc)) from None
    setup_logging(loaded)
    if names == ("reporter",):  # alone in its process: it can wait for a free core
        priority.lower(loaded.config.reporter.nice, service="reporter")
    config, definitions = definitions_for(loaded.config, names)
    del loaded  # a scheduler alone runs without the parsed tasks: let them go
    release_memory()
    serve(_serve(config, definitions, names, embedded=embedded))


@cli.command()
@CONFIG_OPTION
def up(config_path: str | None) -> None:
    """Run all four services (and the notifier) in one process (embedded Redis when none is
    configured)."""
    _run(config_path, ("scheduler", "executor", "reporter", "notifier", "api"), embedded=True)


for _service in ("scheduler", "executor", "reporter", "notifier", "api", "archive"):

    def _make(name: str) -> click.Command:
        @click.command(name=name, help=f"Run the {name} service alone (needs REDIS_URL).")
        @CONFIG_OPTION
        def command(config_path: str | None) -> None:
            _run(config_path, (name,))

        return command

    cli.add_command(_make(_service))

for _command in schedule_cmds.COMMANDS:
    cli.add_command(_command)


cli.add_command(run_command)
cli.add_command(trigger_command)
cli.add_command(run_all_command)
cli.add_command(cancel_command)
cli.add_command(rollbacks)
cli.add_command(report_command)
cli.add_command(history_command)
cli.add_command(cleanup_command)
cli.add_command(pause)
cli.add_command(resume)
cli.add_command(tasks)
cli.add_command(status)
cli.add_command(schedule)
cli.add_command(dead_letters)
cli.add_command(dashboard)
cli.add_command(init)
cli.add_command(completion)
cli.add_command(healthcheck)
cli.add_command(alerts_cmd.alerts_command)


def main() -> None:
    """Console-script entry point."""
    # Logs go to stderr from the first line (stdout is for data, `-o json` must parse);
    # the services reconfigure with the config's level and format once it is loaded.
    configure_logging(level="WARNING")
    cli(prog_name="watchkeeper")


if __name__ == "__main__":
    main()
