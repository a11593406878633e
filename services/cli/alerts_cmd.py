"""``watchkeeper alerts``: list, acknowledge, silence, and test a channel.

List, ack and silence read and change the alert store in Redis, or go through the API
with ``--api`` (``GET /alerts``, ``POST /alerts/{key}/ack|silence``; the API records the
token's name as who acted, so ``--by`` is for Redis only). ``test`` sends from this
machine with this config's channel either way.

Exit codes (``services/cli/exits.py``): 0 ok, 1 the test delivery failed, 2 usage or
configuration error, 3 no such alert or channel, 4 Redis (or the API) unreachable,
5 the API refused the token.
"""

from __future__ import annotations

import asyncio
import getpass
import uuid
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

import click
from rich.console import RenderableType

from services.cli.api_client import ApiClient, api_target
from services.cli.config import CONFIG_OPTION, cli_clock, load, with_backend
from services.cli.exits import CliError, ConfigInvalid, NotFound
from services.cli.output import emit, make_table, note, output_option, stamp
from services.reporter.notifier.channels import Note, build, missing
from shared.config.models import Config
from shared.contract import alerts
from shared.contract.events import AlertRaised
from shared.contract.keys import Keys
from shared.contract.readmodel import AlertRecord
from shared.runtime.redis import Redis
from shared.timing.durations import parse_duration


def _state(a: AlertRecord, now: float) -> str:
    if not a.active:
        return "resolved"
    if a.silenced(now):
        return "silenced"
    return f"acked by {a.acked_by}" if a.acked_by else "held" if a.held else "active"


def _table(records: list[AlertRecord], now: float) -> Callable[[bool], RenderableType]:
    def table(wide: bool) -> RenderableType:
        columns = ["SEVERITY", "KEY", "TITLE", "SINCE", "COUNT", "STATE"]
        rows = [[a.severity, a.key, a.title, stamp(a.first_seen), a.count, _state(a, now)]
                + ([a.source, a.message] if wide else []) for a in records]  # fmt: skip
        return make_table(columns + (["SOURCE", "MESSAGE"] if wide else []), rows)

    return table


@click.group("alerts", invoke_without_command=True)
@CONFIG_OPTION
@click.option("--all", "show_all", is_flag=True, help="Include recently resolved alerts.")
@output_option
@click.pass_context
def alerts_command(
    ctx: click.Context, config_path: str | None, show_all: bool, output: str
) -> None:
    """List active alerts (most severe first); subcommands act on one."""
    ctx.ensure_object(dict)
    ctx.obj["config_path"] = config_path
    if ctx.invoked_subcommand is not None:
        return
    config = load(config_path).config

    async def read(r: Redis, keys: Keys) -> list[AlertRecord]:
        found = await alerts.active(r, keys)
        return found + (await alerts.resolved(r, keys) if show_all else [])

    async def via_api(api: ApiClient) -> list[AlertRecord]:
        page = await api.get("/api/v1/alerts", resolved="true" if show_all else None)
        return [AlertRecord.from_dict(item) for item in page["items"]]

    records = with_backend(config, read, via_api)
    if not records and output in ("table", "wide"):
        note("no active alerts")
        return
    emit([a.as_dict() for a in records], output, _table(records, cli_clock().time()))


def _path(ctx: click.Context, own: str | None) -> str | None:
    return own or (ctx.obj or {}).get("config_path")


def _by(by: str | None) -> str:
    if by is not None and api_target() is not None:
        raise click.UsageError("--by is not sent through the API: it records the token's name")
    return by or f"cli:{getpass.getuser()}"


def _act(key: str, action: str, body: Any = None) -> Callable[[ApiClient], Awaitable[Any]]:
    """``POST /alerts/{key}/{action}``: the changed record (a 404, exit 3, when no alert
    ``key`` is active)."""

    async def via_api(api: ApiClient) -> AlertRecord:
        reply = await api.post(f"/api/v1/alerts/{quote(key, safe='')}/{action}", body)
        return AlertRecord.from_dict(reply)

    return via_api


@alerts_command.command("ack")
@CONFIG_OPTION
@click.argument("key")
@click.option("--by", help="Who acknowledges (default: cli:<user>).")
@click.pass_context
def ack(ctx: click.Context, config_path: str | None, key: str, by: str | None) -> None:
    """Acknowledge the active alert KEY (stops its reminders; PagerDuty acknowledges)."""
    config, who, now = load(_path(ctx, config_path)).config, _by(by), cli_clock().time()
    done = with_backend(config, lambda r, k: alerts.acknowledge(r, k, key, by=who, now=now),
                        _act(key, "ack"))  # fmt: skip
    if done is None:
        raise NotFound(f"no active alert {key!r}")
    click.echo(f"acknowledged {key} ({done.acked_by})")


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
    config, who, now = load(_path(ctx, config_path)).config, _by(by), cli_clock().time()
    done = with_backend(config, lambda r, k: alerts.silence(r, k, key, until=now + seconds,
                                                              by=who, now=now),
                        _act(key, "silence", {"for": seconds}))  # fmt: skip
    if done is None:
        raise NotFound(f"no active alert {key!r}")
    click.echo(f"silenced {key} until {stamp(done.silenced_until)} ({done.silenced_by})")


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
    config = load(_path(ctx, config_path)).config
    found = config.alerts.channel(channel)
    if found is None:
        names = ", ".join(c.key for c in config.alerts.channels) or "none configured"
        raise NotFound(f"no channel {channel!r} ({names})")
    lacking = missing(found)
    if lacking:
        raise ConfigInvalid(lacking)
    clock = cli_clock()
    sender = build(found, config.alerts, clock)
    answer: Any = asyncio.run(sender.send(_test_note(config, clock.time())))
    click.echo(f"{channel}: {answer.summary}")
    if not answer.ok:
        raise CliError(f"{channel} did not accept the test alert")
