"""``watchkeeper alerts``: list, acknowledge, silence, and test a channel.

Exit codes: 0 ok, 1 the test delivery failed, 2 usage or configuration error, 3 no such
alert or channel, 4 Redis unreachable.
"""

from __future__ import annotations

import asyncio
import getpass
import json
import sys
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, NoReturn, TypeVar

import click
from rich.console import Console
from rich.table import Table

from services.cli.config import CONFIG_OPTION, cli_clock, load, redis_url
from services.reporter.notifier.channels import Note, build, missing
from shared.config.models import Config
from shared.contract import alerts
from shared.contract.events import AlertRaised
from shared.contract.keys import Keys
from shared.contract.readmodel import AlertRecord
from shared.runtime.redis import Redis, connect
from shared.timing.durations import parse_duration

T = TypeVar("T")
NOT_FOUND, UNREACHABLE, CONFIG = 3, 4, 2


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _config(path: str | None) -> Config:
    try:
        return load(path).config
    except click.ClickException as exc:
        _fail(exc.format_message(), CONFIG)


def _with_redis(config: Config, work: Callable[[Redis, Keys], Awaitable[T]]) -> T:
    async def main() -> T:
        try:
            r = await connect(redis_url(config), wait_s=3.0)
        except ConnectionError as exc:
            _fail(str(exc), UNREACHABLE)
        try:
            return await work(r, Keys(config.namespace))
        finally:
            await r.aclose()

    return asyncio.run(main())


def _when(epoch: float | None) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%SZ") if epoch else ""


def _table(records: list[AlertRecord], now: float) -> Table:
    table = Table("severity", "key", "title", "since", "count", "state")
    for a in records:
        state = "resolved" if not a.active else "silenced" if a.silenced(now) else (
            f"acked by {a.acked_by}" if a.acked_by else "held" if a.held else "active")  # fmt: skip
        table.add_row(a.severity, a.key, a.title, _when(a.first_seen), str(a.count), state)
    return table


@click.group("alerts", invoke_without_command=True)
@CONFIG_OPTION
@click.option("--all", "show_all", is_flag=True, help="Include recently resolved alerts.")
@click.option("-o", "--output", type=click.Choice(["table", "json"]), default="table")
@click.pass_context
def alerts_command(
    ctx: click.Context, config_path: str | None, show_all: bool, output: str
) -> None:
    """List active alerts (most severe first); subcommands act on one."""
    ctx.ensure_object(dict)
    ctx.obj["config_path"] = config_path
    if ctx.invoked_subcommand is not None:
        return
    config = _config(config_path)

    async def read(r: Redis, keys: Keys) -> list[AlertRecord]:
        found = await alerts.active(r, keys)
        return found + (await alerts.resolved(r, keys) if show_all else [])

    records = _with_redis(config, read)
    if output == "json":
        click.echo(json.dumps([a.as_dict() for a in records], indent=2))
    elif not records:
        click.echo("no active alerts")
    else:
        Console(width=160).print(_table(records, cli_clock().time()))


def _path(ctx: click.Context, own: str | None) -> str | None:
    return own or (ctx.obj or {}).get("config_path")


def _by(by: str | None) -> str:
    return by or f"cli:{getpass.getuser()}"


@alerts_command.command("ack")
@CONFIG_OPTION
@click.argument("key")
@click.option("--by", help="Who acknowledges (default: cli:<user>).")
@click.pass_context
def ack(ctx: click.Context, config_path: str | None, key: str, by: str | None) -> None:
    """Acknowledge the active alert KEY (stops its reminders; PagerDuty acknowledges)."""
    config, who, now = _config(_path(ctx, config_path)), _by(by), cli_clock().time()
    done = _with_redis(config, lambda r, k: alerts.acknowledge(r, k, key, by=who, now=now))
    if done is None:
        _fail(f"no active alert {key!r}", NOT_FOUND)
    click.echo(f"acknowledged {key} ({who})")


@alerts_command.command("silence")
@CONFIG_OPTION
@click.argument("key")
@click.option("--for", "duration", required=True, help="How long, e.g. 30m, 2h, 1d.")
@click.option("--by", help="Who silences (default: cli:<user>).")
@click.pass_context
def silence(
    ctx: click.Context, config_path: str | None, key: str, duration: str, by: str | None
) -> None:
    """Hold back every announcement of the active alert KEY for a while."""
    try:
        seconds = parse_duration(duration)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--for") from None
    config, who, now = _config(_path(ctx, config_path)), _by(by), cli_clock().time()
    done = _with_redis(config, lambda r, k: alerts.silence(r, k, key, until=now + seconds,
                                                            by=who, now=now))  # fmt: skip
    if done is None:
        _fail(f"no active alert {key!r}", NOT_FOUND)
    click.echo(f"silenced {key} until {_when(now + seconds)} ({who})")


def _test_note(config: Config, now: float) -> Note:
    event = AlertRaised(
        alert_id=uuid.uuid4().hex, key="watchkeeper.test", severity="critical",
        title="Watchkeeper test alert",
        message="Sent by `watchkeeper alerts test`: no action needed.",
        source="cli", labels={"task": "watchkeeper.test"}, first_seen=now, last_seen=now,
        notice="test", details={"namespace": config.namespace},
    )  # fmt: skip
    return Note(f"test-{uuid.uuid4().hex[:16]}", event)


@alerts_command.command("test")
@CONFIG_OPTION
@click.argument("channel")
@click.pass_context
def test_channel(ctx: click.Context, config_path: str | None, channel: str) -> None:
    """Send a test alert to CHANNEL (a name, or the type of an unnamed one) and print the
    receiver's answer; exit 1 when it did not accept it."""
    config = _config(_path(ctx, config_path))
    found = config.alerts.channel(channel)
    if found is None:
        names = ", ".join(c.key for c in config.alerts.channels) or "none configured"
        _fail(f"no channel {channel!r} ({names})", NOT_FOUND)
    lacking = missing(found)
    if lacking:
        _fail(lacking, CONFIG)
    clock = cli_clock()
    sender = build(found, config.alerts, clock)
    answer: Any = asyncio.run(sender.send(_test_note(config, clock.time())))
    click.echo(f"{channel}: {answer.summary}")
    if not answer.ok:
        sys.exit(1)
