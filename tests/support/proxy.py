"""A TCP proxy between services and Redis that injects network faults (chaos tests).

Services connect through it (``REDIS_URL`` = :attr:`FaultProxy.url`); the test turns
faults on and off while they run:

- ``latency_s``: every chunk, both ways, arrives that much later (order kept);
- :meth:`cut_reply_to`: the next reply to a command containing a marker (``b"XADD"``)
  is cut mid-way and the connection closed: Redis ran the command, the client never
  learnt it and retries — the case an idempotency key exists for;
- ``half_open``: connections are accepted and requests swallowed, nothing is answered
  and nothing is closed (a peer behind a dead NAT entry or a frozen host);
- :meth:`cut_all`: every current connection is closed at once;
- :meth:`down` / :meth:`up`: stop and resume listening (connections refused).

It runs in the test's event loop, so tests must wait with ``await``, never block.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import urlsplit

CHUNK: Final = 65_536


@dataclass(eq=False)
class _Link:
    """One client connection and its upstream connection."""

    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    cut_next_reply: bool = False
    lost_data: bool = False

    def close(self) -> None:
        for writer in (self.client, self.upstream):
            writer.close()
        for task in self.tasks:
            task.cancel()


@dataclass
class FaultProxy:
    """Forward ``host:listen_port`` to ``host:target_port``, with faults on demand."""

    target_port: int
    host: str = "127.0.0.1"
    latency_s: float = 0.0
    half_open: bool = False
    cuts: int = 0
    """How many connections :meth:`cut_reply_to` has cut so far."""
    port: int = 0
    _server: asyncio.Server | None = None
    _links: set[_Link] = field(default_factory=set)
    _cut_marker: bytes | None = None
    _cuts_left: int = 0

    @classmethod
    def before(cls, redis_url: str) -> FaultProxy:
        """A proxy (not started) in front of the local server at ``redis_url``."""
        return cls(int(urlsplit(redis_url).port or 6379))

    @property
    def url(self) -> str:
        """``redis://`` URL of the proxy (valid once started)."""
        return f"redis://{self.host}:{self.port}"

    async def start(self) -> FaultProxy:
        """Listen (on a free port the first time, the same port after :meth:`down`)."""
        self._server = await asyncio.start_server(self._accept, self.host, self.port)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def stop(self) -> None:
        """Stop listening and close every connection."""
        await self.down()

    async def down(self) -> None:
        """Refuse new connections and cut the current ones."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        self.cut_all()

    async def up(self) -> None:
        """Listen again on the same port."""
        if self._server is None:
            await self.start()

    def cut_all(self) -> None:
        """Close every current connection (clients see a reset and reconnect)."""
        for link in list(self._links):
            link.close()
        self._links.clear()

    def cut_reply_to(self, marker: bytes, times: int = 1) -> None:
        """Cut the reply to the next ``times`` requests containing ``marker`` (any case)
        half-way, after Redis has run them, and close those connections."""
        self._cut_marker, self._cuts_left = marker.upper(), times

    def heal(self) -> None:
        """Clear every fault; connections that lost data on the way are closed (their
        protocol stream is broken), the others carry on."""
        self.latency_s, self.half_open, self._cut_marker = 0.0, False, None
        for link in [link for link in self._links if link.lost_data]:
            link.close()
            self._links.discard(link)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(self.host, self.target_port)
        except OSError:
            writer.close()  # the target is down: the client sees its connection closed
            return
        link = _Link(writer, up_writer)
        self._links.add(link)
        link.tasks = [
            asyncio.create_task(self._pipe(link, reader, up_writer, upstream=True)),
            asyncio.create_task(self._pipe(link, up_reader, writer, upstream=False)),
        ]

    async def _pipe(
        self, link: _Link, src: asyncio.StreamReader, dst: asyncio.StreamWriter, *, upstream: bool
    ) -> None:
        """Copy ``src`` to ``dst`` chunk by chunk, applying the faults in force."""
        delayed: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
        sender = asyncio.create_task(self._send_later(delayed, dst))
        loop = asyncio.get_running_loop()
        try:
            while data := await src.read(CHUNK):
                if self.half_open:
                    link.lost_data = True
                    continue
                if upstream:
                    self._arm_cut(link, data)
                elif link.cut_next_reply:
                    await delayed.put((loop.time() + self.latency_s, data[: len(data) // 2]))
                    await delayed.join()
                    self.cuts += 1
                    break
                await delayed.put((loop.time() + self.latency_s, data))
        except (ConnectionError, OSError):
            pass
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender
            link.close()
            self._links.discard(link)

    def _arm_cut(self, link: _Link, request: bytes) -> None:
        if self._cut_marker is not None and self._cut_marker in request.upper():
            link.cut_next_reply = True
            self._cuts_left -= 1
            if self._cuts_left <= 0:
                self._cut_marker = None

    @staticmethod
    async def _send_later(
        queue: asyncio.Queue[tuple[float, bytes]], dst: asyncio.StreamWriter
    ) -> None:
        """Write each chunk at its time; once ``dst`` is broken, only drain the queue
        (so a waiting ``join`` returns)."""
        loop, broken = asyncio.get_running_loop(), False
        while True:
            at, data = await queue.get()
            try:
                if not broken:
                    if (wait := at - loop.time()) > 0:
                        await asyncio.sleep(wait)  # the injected latency itself
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                broken = True
            finally:
                queue.task_done()
