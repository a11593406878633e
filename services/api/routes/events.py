"""Live updates over Server-Sent Events: ``GET /api/v1/events``.

One reader task per app (started in ``cleanup_ctx``) follows the due, progress, results
and alerts streams with plain XREAD (an observer: no consumer group, nothing acked) and
fans each event out to every client's bounded queue. It reads only while a client is
connected: with no dashboard open, ``watchkeeper up`` spends nothing decoding events
nobody will see (it was an eighth of the process' CPU under load). A client whose
queue is full is dropped (its stream ends; ``EventSource`` reconnects) so a slow reader
never holds up the others or the reader task.

Events: ``run.queued`` (a ``task.due``), ``run.progress``, ``run.finished`` (a
``task.result``), ``alert.raised``, ``alert.resolved``; each ``data`` is one JSON object.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from aiohttp import web

from services.api import state
from services.api.routing import Call, Route
from shared.contract.codec import EventDecodeError, event_body
from shared.contract.events import AlertRaised, AlertResolved, TaskDue, TaskResult
from shared.contract.keys import Keys
from shared.contract.readmodel import RunProgress
from shared.contract.records import RecordError
from shared.contract.streams import decode_on
from shared.runtime.logging import get_logger
from shared.runtime.loop import wait_set
from shared.runtime.redis import Redis, RedisUnavailable, text

log = get_logger("watchkeeper.api.events")
QUEUE_SIZE: Final = 256
"""Events a client may fall behind by before it is dropped."""
KEEPALIVE_S: Final = 15.0
READ_BLOCK_MS: Final = 1_000
RETRY_S: Final = 1.0
_RESULT_FIELDS: Final = ("run_id", "task", "status", "attempt", "trigger", "duration_s",
                         "message", "finished_at", "executor")  # fmt: skip
_DUE_FIELDS: Final = ("run_id", "task", "trigger", "priority", "scheduled_for", "attempt")


@dataclass(frozen=True, slots=True)
class Message:
    """One SSE message: ``event`` name, JSON ``data`` and the stream entry ``id``."""

    event: str
    data: Mapping[str, Any]
    id: str

    def encode(self) -> bytes:
        """The wire form (``id``/``event``/``data`` lines, blank line)."""
        body = json.dumps(self.data, separators=(",", ":"), default=str)
        return f"id: {self.id}\nevent: {self.event}\ndata: {body}\n\n".encode()


@dataclass(eq=False)
class Client:
    """One connected client: its queue, and whether the hub dropped it."""

    queue: asyncio.Queue[Message] = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))
    dropped: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass(eq=False)
class Hub:
    """The one reader and its clients."""

    r: Redis
    keys: Keys
    clients: set[Client] = field(default_factory=set)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    """Set once the reader knows where each stream ends: events from then on are sent
    (cleared while no client is connected and the reader idles)."""
    wanted: asyncio.Event = field(default_factory=asyncio.Event)
    """Set while at least one client is connected: the reader follows the streams."""
    stopping: bool = False
    """Set on cleanup: the reader ends after its current read even if the Redis client
    swallowed the cancellation (redis-py may, inside its retry wrapper)."""

    def subscribe(self) -> Client:
        """A new client, receiving every event from now on."""
        client = Client()
        self.clients.add(client)
        self.wanted.set()
        return client

    def unsubscribe(self, client: Client) -> None:
        """Forget ``client`` (idempotent)."""
        self._forget(client)

    def _forget(self, client: Client) -> None:
        self.clients.discard(client)
        if not self.clients:
            self.wanted.clear()

    def publish(self, message: Message) -> None:
        """Queue ``message`` for every client; drop the ones whose queue is full."""
        for client in list(self.clients):
            try:
                client.queue.put_nowait(message)
            except asyncio.QueueFull:
                self._forget(client)
                client.dropped.set()
                log.warning("api.sse_client_dropped", queued=client.queue.qsize())

    @property
    def streams(self) -> tuple[str, ...]:
        """Every stream the reader follows."""
        k = self.keys
        return (*k.due_streams, k.progress_stream, k.results, k.alerts_stream)

    async def run(self) -> None:
        """Follow the streams while a client is connected, until cancelled; a Redis
        outage pauses it, never ends it. A reader that idled starts again from where
        each stream ends when the next client connects."""
        ids: dict[str, str] = {}
        while not self.stopping:
            if not self.clients:
                ids = {}
                self.ready.clear()
                await self.wanted.wait()
                continue
            try:
                if not ids:
                    ids = await self._tails()
                    self.ready.set()
                await self.read_once(ids)
            except RedisUnavailable as exc:
                log.warning("api.sse_reader_waiting", error=str(exc))
                await asyncio.sleep(RETRY_S)

    async def _tails(self) -> dict[str, str]:
        """Each stream's last entry id now (new events only are sent)."""
        async with self.r.pipeline(transaction=False) as pipe:
            for stream in self.streams:
                pipe.xrevrange(stream, count=1)
            replies = await pipe.execute()
        return {s: text(rep[0][0]) if rep else "0-0" for s, rep in zip(self.streams, replies,
                                                                        strict=True)}  # fmt: skip

    async def read_once(self, ids: dict[str, str], block_ms: int = READ_BLOCK_MS) -> None:
        """One XREAD: publish what arrived and move ``ids`` on."""
        reply: Any = await self.r.xread(ids, count=200, block=block_ms)  # type: ignore[arg-type]
        for stream, entries in reply or []:
            name = text(stream)
            for entry_id, fields in entries:
                ids[name] = text(entry_id)
                message = self.message(name, text(entry_id), fields)
                if message is not None:
                    self.publish(message)

    def message(self, stream: str, entry_id: str, fields: Any) -> Message | None:
        """The SSE message for one entry (None for one that is not for people)."""
        if stream == self.keys.progress_stream:
            return _progress(entry_id, fields)
        try:
            event = decode_on(self.keys, stream, fields)
        except EventDecodeError:
            return None  # the stream's group readers dead-letter it
        body = event_body(event)
        if isinstance(event, TaskResult):
            return Message("run.finished", {f: body[f] for f in _RESULT_FIELDS}, entry_id)
        if isinstance(event, TaskDue):
            return Message("run.queued", {f: body[f] for f in _DUE_FIELDS}, entry_id)
        if isinstance(event, AlertRaised | AlertResolved):
            return Message(event.TYPE, body, entry_id)
        return None


def _progress(entry_id: str, fields: Mapping[bytes, bytes]) -> Message | None:
    try:
        progress = RunProgress.from_fields(fields)
    except RecordError:
        return None
    ids = {k: text(fields.get(k.encode(), b"")) for k in ("run_id", "task")}
    data = {**ids, "executor": progress.executor, **progress.as_dict()}
    return Message("run.progress", data, entry_id)


HUB: web.AppKey[Hub] = web.AppKey("events_hub", Hub)


async def hub_ctx(app: web.Application) -> AsyncIterator[None]:
    """``cleanup_ctx``: start the reader with the app, cancel it on cleanup."""
    hub = app[HUB] = Hub(app[state.REDIS], app[state.KEYS])
    task = asyncio.create_task(hub.run(), name="api-sse-reader")
    yield
    hub.stopping = True
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    for client in list(hub.clients):
        client.dropped.set()


async def end_streams(app: web.Application) -> None:
    """``on_shutdown``: end every open feed now, so shutdown never waits for a keepalive."""
    hub = app.get(HUB)
    for client in list(hub.clients) if hub is not None else ():
        client.dropped.set()


async def events(call: Call) -> web.StreamResponse:
    """The live feed (``text/event-stream``)."""
    hub = call.request.app[HUB]
    client = hub.subscribe()
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                           "Cache-Control": "no-cache",
                                           "X-Accel-Buffering": "no"})  # fmt: skip
    try:
        with contextlib.suppress(ConnectionResetError):  # the client went away
            await _serve(call, hub, client, response)
    finally:
        hub.unsubscribe(client)
    return response


async def _serve(call: Call, hub: Any, client: Client, response: web.StreamResponse) -> None:
    await response.prepare(call.request)
    # "connected" once the reader is live (not at all while Redis is down at start).
    await wait_set(hub.ready, KEEPALIVE_S)
    await response.write(b": connected\n\n")
    await _pump(client, response)


async def _pump(client: Client, response: web.StreamResponse) -> None:
    dropped = asyncio.ensure_future(client.dropped.wait())
    try:
        while not client.dropped.is_set():
            getter = asyncio.ensure_future(client.queue.get())
            done, _ = await asyncio.wait({getter, dropped}, timeout=KEEPALIVE_S,
                                         return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
            if getter in done:
                await response.write(getter.result().encode())
                continue
            getter.cancel()
            if not done:
                await response.write(b": keepalive\n\n")
    finally:
        dropped.cancel()


ROUTES = (
    Route(method="GET", path="/api/v1/events", handler=events, tag="events",
          summary="Live events (Server-Sent Events)", content_type="text/event-stream",
          response=str),
)  # fmt: skip
