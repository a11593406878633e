"""``watchkeeper dead-letters list|requeue``: entries a reader rejected (``{ns}:stream:dead``).

A dead-letter record says where the entry came from (``source``, ``source_id``), who
rejected it (``group``, ``reader``), why (``reason``), and keeps the original fields as
``orig_<name>`` (:func:`shared.runtime.redis.dead_record`). Requeueing appends those
original fields to the source stream again and removes the record, in one transaction;
only this namespace's streams are accepted as a source. With ``--api`` both go through
``GET /dead-letters`` and ``POST /dead-letters/{id}/requeue``, which do the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote

import click
from redis.exceptions import ResponseError
from rich.console import RenderableType

from services.cli.api_client import ApiClient
from services.cli.config import CONFIG_OPTION, load, with_backend
from services.cli.exits import CliError, NotFound
from services.cli.output import emit, make_table, output_option, stamp
from shared.contract.keys import Keys
from shared.contract.requeue import requeue as requeue_once
from shared.runtime.redis import Redis, text

ORIGINAL = b"orig_"
PAGE: Final = 500
"""Dead letters per API request (its largest page)."""


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One dead-letter record."""

    id: str
    fields: dict[bytes, bytes]

    def field(self, name: str) -> str | None:
        """A record field as text (None when absent)."""
        value = self.fields.get(name.encode())
        return None if value is None else text(value)

    def original(self) -> dict[bytes, bytes]:
        """The rejected entry's own fields."""
        return {k[len(ORIGINAL) :]: v for k, v in self.fields.items() if k.startswith(ORIGINAL)}

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (the original body stays binary and is left out)."""
        shown = {name: self.field(name) for name in SHOWN} | {"type": self.field("orig_type")}
        return dead_row(self.id, shown)


SHOWN: Final = ("source", "source_id", "group", "reader", "reason")
"""The record's own fields ``list`` shows (with the original entry's ``type``)."""


def dead_row(entry_id: str, fields: dict[str, Any]) -> dict[str, Any]:
    """One ``list`` row from a record's fields (as in Redis, or as the API shows them)."""
    return {"id": entry_id, "dead_at": int(entry_id.split("-")[0]) / 1000,
            **{name: fields.get(name) for name in (*SHOWN, "type")}}  # fmt: skip


def _record(entry_id: Any, fields: Any) -> DeadLetter:
    return DeadLetter(text(entry_id), {bytes(k): bytes(v) for k, v in fields.items()})


@click.group("dead-letters")
def dead_letters() -> None:
    """Entries a reader rejected, and putting them back."""


@dead_letters.command("list")
@CONFIG_OPTION
@click.option("--limit", default=50, show_default=True)
@output_option
def list_dead(config_path: str | None, limit: int, output: str) -> None:
    """Dead letters, newest first."""
    config = load(config_path).config

    async def read(r: Redis, k: Keys) -> list[dict[str, Any]]:
        raw: Any = await r.xrevrange(k.dead, count=limit)
        return [_record(i, f).as_dict() for i, f in raw]

    records = with_backend(config, read, lambda api: api_dead(api, limit))
    emit(records, output, lambda wide: _table(records, wide))


async def api_dead(api: ApiClient, limit: int | None = None) -> list[dict[str, Any]]:
    """Up to ``limit`` (None: all) dead letters through the API, newest first."""
    rows: list[dict[str, Any]] = []
    cursor = None
    while limit is None or len(rows) < limit:
        size = PAGE if limit is None else min(PAGE, limit - len(rows))
        page = await api.get("/api/v1/dead-letters", limit=size, before=cursor)
        rows += [dead_row(item["id"], item) for item in page["items"]]
        cursor = page["next"]
        if cursor is None:
            break
    return rows


def _table(records: list[dict[str, Any]], wide: bool) -> RenderableType:
    if not records:
        return "no dead letters"
    columns = ["ID", "DEAD AT", "SOURCE", "TYPE", "REASON"]
    if wide:
        columns += ["SOURCE ID", "GROUP", "READER"]
    rows = []
    for d in records:
        row = [d["id"], stamp(d["dead_at"]), d["source"], d["type"], d["reason"]]
        rows.append([*row, d["source_id"], d["group"], d["reader"]] if wide else row)
    return make_table(columns, rows)


def _streams(k: Keys) -> set[str]:
    return {k.emergency, k.triggers, *k.due_streams, k.results, k.control, k.alerts_stream}


async def requeue(r: Redis, k: Keys, entry_id: str) -> str:
    """Put one dead letter back on its source stream; returns the new entry id."""
    try:
        raw: Any = await r.xrange(k.dead, entry_id, entry_id)
    except ResponseError:
        raise click.BadParameter(f"{entry_id!r} is not a stream entry id") from None
    if not raw:
        raise NotFound(f"no dead letter {entry_id!r}")
    record = _record(*raw[0])
    source, original = record.field("source"), record.original()
    if source not in _streams(k):
        raise CliError(f"{entry_id}: source {source!r} is not a stream of namespace {k.ns!r}")
    if not original:
        raise CliError(f"{entry_id}: the record keeps no original fields to requeue")
    new_id = await requeue_once(r, k, entry_id, source, original)
    if new_id is None:  # requeued or deleted between the read and now
        raise NotFound(f"no dead letter {entry_id!r}")
    return new_id


@dead_letters.command("requeue")
@CONFIG_OPTION
@click.argument("entry_ids", nargs=-1)
@click.option("--all", "every", is_flag=True, help="Requeue every dead letter.")
def requeue_dead(config_path: str | None, entry_ids: tuple[str, ...], every: bool) -> None:
    """Put dead letters back on the stream they came from (by id, or --all)."""
    if bool(entry_ids) == every:
        raise click.UsageError("give dead-letter ids or --all")
    config = load(config_path).config

    async def work(r: Redis, k: Keys) -> list[tuple[str, str]]:
        ids = list(entry_ids)
        if every:
            everything: Any = await r.xrange(k.dead)
            ids = [text(i) for i, _ in everything]
        return [(i, await requeue(r, k, i)) for i in ids]

    async def via_api(api: ApiClient) -> list[tuple[str, str]]:
        ids = [row["id"] for row in reversed(await api_dead(api))] if every else entry_ids
        return [(i, await api_requeue(api, i)) for i in ids]

    for old, new in with_backend(config, work, via_api):
        click.echo(f"{old} requeued as {new}")


async def api_requeue(api: ApiClient, entry_id: str) -> str:
    """The :func:`requeue` twin: ``POST /dead-letters/{id}/requeue`` (a 404 is exit 3, a
    bad id 2, a record with nowhere to go back to 1, as on Redis)."""
    reply = await api.post(f"/api/v1/dead-letters/{quote(entry_id, safe='')}/requeue")
    return str(reply["new_id"])
