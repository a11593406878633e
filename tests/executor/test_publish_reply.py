"""A publish reply of the wrong shape fails every caller of its batch and strands none.

A Redis-speaking server of the test's own answers the result script: the first batch
gets one flag for two results (or a number where a list belongs), the next a right
reply. Both callers of the bad batch get the error, and the next batch is published:
the flusher survived the bad reply instead of leaving callers waiting forever.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from redis.exceptions import ResponseError

from services.executor.publish import Publisher
from shared.contract.events import TaskResult
from shared.contract.keys import Keys
from shared.runtime.lane import Lane
from shared.runtime.redis import Entry, client
from tests.executor.executor_support import make_due


class ScriptedRedis:
    """Answers ``+OK`` to anything but EVALSHA, which gets the next of ``replies``."""

    def __init__(self, replies: list[bytes]) -> None:
        self.replies = replies
        self.evalshas = 0
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> ScriptedRedis:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"redis://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while (head := await reader.readline()).startswith(b"*"):
                args = []
                for _ in range(int(head[1:])):
                    size = int((await reader.readline())[1:])
                    args.append((await reader.readexactly(size + 2))[:-2])
                if args[0].upper() == b"EVALSHA":
                    self.evalshas += 1
                    writer.write(self.replies.pop(0))
                else:
                    writer.write(b"+OK\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@pytest.fixture(params=[b"*1\r\n:1\r\n", b":7\r\n"], ids=["one-flag-for-two", "not-a-list"])
async def fake(request: pytest.FixtureRequest) -> AsyncIterator[ScriptedRedis]:
    bad: bytes = request.param
    async with ScriptedRedis([bad, b"*2\r\n:1\r\n:0\r\n"]) as server:
        yield server


def _result(n: int) -> tuple[Entry, TaskResult]:
    due = make_due(params={"n": n})
    result = TaskResult(run_id=due.run_id, task=due.task, handler=due.handler, attempt=1,
                        trigger="manual", scheduled_for=0.0, status="succeeded",
                        started_at=1.0, finished_at=2.0, duration_s=1.0, executor="e")  # fmt: skip
    return Entry(stream="due", entry_id=f"1-{n}", fields={}), result


async def test_a_bad_reply_fails_its_whole_batch_and_the_next_batch_is_published(
    fake: ScriptedRedis,
) -> None:
    r = client(fake.url)
    publisher = Publisher(r, Keys("tp"), "e-1")
    publisher.lane = Lane(r.client(), name="publish-test")
    try:
        async with asyncio.timeout(10):  # the old flusher left both waiting forever
            first = await asyncio.gather(*(publisher.publish(*_result(n)) for n in (1, 2)),
                                         return_exceptions=True)  # fmt: skip
        assert [type(x) for x in first] == [type(first[0])] * 2
        assert isinstance(first[0], ResponseError | TypeError | ValueError)
        assert publisher._flusher is None and publisher._queue == []
        async with asyncio.timeout(10):
            second = await asyncio.gather(*(publisher.publish(*_result(n)) for n in (3, 4)))
        assert second == [True, False]  # each caller gets its own flag
        assert fake.evalshas == 2
    finally:
        await publisher.lane.aclose()
        await r.aclose()
