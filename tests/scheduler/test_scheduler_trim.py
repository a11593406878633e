"""The scheduler leader trims the consumed streams every ``streams.trim_every`` (its
monotonic clock) to ``streams.keep`` (Redis' clock, which stamps the ids); a standby
does not, and what a group still needs is never trimmed."""

from __future__ import annotations

from shared.config.models import StreamsSettings
from shared.contract.keys import EXECUTORS_GROUP, Keys
from shared.runtime.clock import FakeClock
from shared.runtime.redis import Redis
from shared.runtime.trim import server_time_s
from tests.scheduler.sched_support import T0, make
from tests.shared.runtime.stream_backlog import ids_of, seed

STREAMS = StreamsSettings(keep="1h", trim_every="1m")


async def test_leader_trims_every_trim_every(r: Redis, keys: Keys) -> None:
    clock = FakeClock(T0)
    scheduler = await make(r, keys, clock, {}, streams=STREAMS)
    now = await server_time_s(r)  # the fake clock is a year ahead: not the one used
    low = await seed(r, keys.due("low"), (EXECUTORS_GROUP,), now)

    await scheduler.run_once()  # leads, and the first pass is due at once
    assert await ids_of(r, keys.due("low")) == low.needed

    high = await seed(r, keys.due("high"), (EXECUTORS_GROUP,), now, read_all=True)
    clock.advance(59)
    await scheduler.run_once()  # within a minute of the last pass: no trim
    assert await r.xlen(keys.due("high")) == 13

    clock.advance(1)
    await scheduler.run_once()
    assert await ids_of(r, keys.due("high")) == high.acked_recent  # acked < 1 h old stay
    assert await ids_of(r, keys.due("low")) == low.needed


async def test_a_standby_does_not_trim(r: Redis, keys: Keys) -> None:
    clock = FakeClock(T0)
    leader = await make(r, keys, clock, {}, streams=STREAMS)
    standby = await make(r, keys, clock, {}, streams=STREAMS)
    await leader.run_once()
    await seed(r, keys.due("high"), (EXECUTORS_GROUP,), await server_time_s(r), read_all=True)

    clock.advance(60)  # the leader's lease is real-time: it still holds it
    await standby.run_once()
    assert await r.xlen(keys.due("high")) == 13
