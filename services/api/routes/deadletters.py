"""Dead letters: list the entries readers rejected, and requeue one to its source.

A dead-letter record keeps where the entry came from (``source``, ``source_id``), why it
was rejected, and the original fields as ``orig_<name>`` (``shared.runtime.redis``).
Requeueing adds the original fields back to the source stream and deletes the record,
in one transaction; only this namespace's streams are accepted as a source.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from typing_extensions import TypedDict

from services.api import routing
from services.api.errors import Conflict, NotFound
from services.api.routing import Call, Limit, QueryModel, Route, before
from shared.contract.codec import unpack
from shared.contract.requeue import requeue
from shared.runtime.redis import text

ORIG: bytes = b"orig_"


class DeadQuery(QueryModel):
    """Newest first; ``before`` is the ``next`` cursor of the previous page."""

    limit: Limit = 50
    before: str | None = None


class Requeued(TypedDict):
    """Where the entry went back to."""

    id: str
    stream: str
    new_id: str


def dead_view(entry_id: str, fields: dict[bytes, bytes]) -> dict[str, Any]:
    """A dead-letter record as JSON: origin, reason, the original type and its body
    (decoded when it is msgpack, else null)."""
    meta = {text(k): text(v) for k, v in fields.items() if not k.startswith(ORIG)}
    body = fields.get(ORIG + b"body")
    return {
        "id": entry_id, "source": meta.get("source"), "source_id": meta.get("source_id"),
        "group": meta.get("group"), "reader": meta.get("reader"), "reason": meta.get("reason"),
        "type": text(fields[ORIG + b"type"]) if ORIG + b"type" in fields else None,
        "body": _body(body),
    }  # fmt: skip


def _body(raw: bytes | None) -> Any:
    if raw is None:
        return None
    try:
        return _plain(unpack(raw))
    except Exception:  # any undecodable body is shown as absent, never an error
        return None


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    if isinstance(value, dict):
        return {str(_plain(k)): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


async def list_dead(call: Call) -> web.Response:
    """Dead-letter records, newest first."""
    q = call.q(DeadQuery)
    high = before(q.before)
    raw: Any = (
        await call.r.xrevrange(call.keys.dead, max=high, min="-", count=q.limit) if high else []
    )
    items = [dead_view(text(i), f) for i, f in raw]
    more = len(items) == q.limit
    return web.json_response({"items": items, "next": items[-1]["id"] if more else None})


async def requeue_dead(call: Call) -> web.Response:
    """Put a dead entry back on its source stream (operator)."""
    entry_id = call.path("id")
    routing.entry_id(entry_id, "id", where="path")
    raw: Any = await call.r.xrange(call.keys.dead, min=entry_id, max=entry_id)
    if not raw:
        raise NotFound(f"no dead letter {entry_id!r}", details={"id": entry_id})
    fields: dict[bytes, bytes] = raw[0][1]
    source = text(fields.get(b"source", b""))
    original = {k[len(ORIG) :]: v for k, v in fields.items() if k.startswith(ORIG)}
    if not source.startswith(f"{call.keys.ns}:stream:") or source == call.keys.dead:
        raise Conflict(f"dead letter {entry_id} has no stream of this namespace to go back to")
    if not original:
        raise Conflict(f"dead letter {entry_id} kept none of the original fields")
    new_id = await requeue(call.r, call.keys, entry_id, source, original)
    if new_id is None:  # requeued or deleted between the read and now
        raise NotFound(f"no dead letter {entry_id!r}", details={"id": entry_id})
    return web.json_response(Requeued(id=entry_id, stream=source, new_id=new_id))


ROUTES = (
    Route(method="GET", path="/api/v1/dead-letters", handler=list_dead, tag="dead-letters",
          summary="Dead-lettered entries (newest first)", query=DeadQuery),
    Route(method="POST", path="/api/v1/dead-letters/{id}/requeue", handler=requeue_dead,
          tag="dead-letters", summary="Requeue a dead entry to its source stream",
          role="operator", response=Requeued, errors=(400, 409)),
)  # fmt: skip
