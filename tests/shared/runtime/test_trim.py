"""Trimming the consumed streams: only entries every group has acked and older than
``keep`` go; pending and unread entries, recent ones, and streams no group reads stay."""

from __future__ import annotations

import pytest

from shared.contract.keys import EXECUTORS_GROUP, REPORTER_GROUP, Keys
from shared.contract.streams import STREAM_TYPES, stream_kind
from shared.runtime.probes import expected_groups
from shared.runtime.redis import Redis
from shared.runtime.trim import floor_id, trim_consumed
from tests.shared.runtime.stream_backlog import HOUR_S, ids_of, seed

NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("groups", "floor"),
    [
        ([], (9000, 0)),  # no group: the time cutoff alone
        ([("9500-0", None)], (9000, 0)),  # everything read and acked
        ([("9500-0", "1200-3")], (1200, 3)),  # the oldest pending entry stays
        ([("4000-1", None)], (4000, 2)),  # 4000-1 was read and acked; what follows was not
        ([("9500-0", None), ("0-0", None)], (0, 1)),  # a group that has read nothing
    ],
)
def test_floor_id(groups: list[tuple[str, str | None]], floor: tuple[int, int]) -> None:
    assert floor_id((9000, 0), groups) == floor


def test_every_consumed_stream_kind_is_trimmed(keys: Keys) -> None:
    # a stream kind readers consume (all but dead letters) must be in the one list
    kinds = {stream_kind(keys, s) for s in expected_groups(keys)}
    assert kinds == set(STREAM_TYPES) - {"dead"}


async def test_backlog_keeps_pending_and_unread_entries(r: Redis, keys: Keys) -> None:
    backlogs = {s: await seed(r, s, groups, NOW) for s, groups in expected_groups(keys).items()}

    done = await trim_consumed(r, keys, NOW - HOUR_S, dry_run=False)

    for stream, backlog in backlogs.items():
        assert done[stream] == len(backlog.acked_old), stream
        assert await ids_of(r, stream) == backlog.needed, stream


async def test_acked_entries_are_kept_for_keep(r: Redis, keys: Keys) -> None:
    backlog = await seed(r, keys.triggers, expected_groups(keys)[keys.triggers], NOW,
                         read_all=True)  # fmt: skip

    assert (await trim_consumed(r, keys, NOW - 3 * HOUR_S, dry_run=False))[keys.triggers] == 0
    done = await trim_consumed(r, keys, NOW - HOUR_S, dry_run=False)

    assert done[keys.triggers] == len(backlog.acked_old)
    assert await ids_of(r, keys.triggers) == backlog.acked_recent


async def test_dry_run_counts_and_removes_nothing(r: Redis, keys: Keys) -> None:
    backlog = await seed(r, keys.control, expected_groups(keys)[keys.control], NOW)
    before = await ids_of(r, keys.control)

    done = await trim_consumed(r, keys, NOW, dry_run=True)

    assert done[keys.control] == len(backlog.acked_old)
    assert await ids_of(r, keys.control) == before


async def test_streams_without_their_groups_are_left_whole(r: Redis, keys: Keys) -> None:
    await seed(r, keys.due("low"), (), NOW)  # the executors never created their group
    await seed(r, keys.results, (REPORTER_GROUP,), NOW, read_all=True)  # the scheduler's missing
    await seed(r, keys.history, (), NOW)  # history-like: no group reads it
    await seed(r, keys.due("high"), (EXECUTORS_GROUP,), NOW, read_all=True)

    done = await trim_consumed(r, keys, NOW, dry_run=False)

    assert done[keys.due("low")] == done[keys.results] == 0
    assert await r.xlen(keys.due("low")) == await r.xlen(keys.results) == 13
    assert await r.xlen(keys.history) == 13
    assert done[keys.due("high")] == 13  # the one complete stream, acked to the end
