"""No stream is trimmed below what a consumer group still needs, with a real backlog.

Retention (the ``retention`` handler, ``watchkeeper cleanup``) and the scheduler
leader's periodic pass (``shared.runtime.trim``, tested in tests/shared/runtime) are the
only trims of a group-read stream; every other trim (``XADD MAXLEN``: history, per-task history,
dead letters; ``LTRIM``: decisions) is of a key no group reads. With the reporter far behind
(entries delivered and unacked, more never read) and a cutoff past everything,
retention keeps the whole backlog, and the reporter then records all of it.
"""

from __future__ import annotations

from typing import Any

import pytest

from services.executor.handlers.retention_plan import RetentionPolicy, apply_retention
from services.reporter.service import Reporter
from shared.config.models import Config
from shared.contract.codec import encode
from shared.contract.keys import REPORTER_GROUP, SCHEDULER_GROUP, Keys
from shared.runtime.probes import expected_groups
from shared.runtime.redis import Redis, ensure_group
from tests.executor.executor_support import make_due
from tests.scheduler.sched_support import result_of

pytestmark = pytest.mark.chaos

DAY_MS = 86_400_000
T0_MS = 1_700_000_000_000


def test_streams_trimmed_by_length_are_read_by_no_group(keys: Keys) -> None:
    capped = {keys.history, keys.task_history("any"), keys.decisions("any"), keys.dead}
    assert capped.isdisjoint(expected_groups(keys))


async def test_retention_keeps_a_lagging_groups_backlog(r: Redis, keys: Keys) -> None:
    runs = [make_due() for _ in range(50)]
    for n, due in enumerate(runs):  # forty days old and older
        result = result_of(due, "succeeded", (T0_MS - n) / 1000)
        await r.xadd(keys.results, encode(result), id=f"{T0_MS + n}-0")  # type: ignore[arg-type]
    await ensure_group(r, keys.results, REPORTER_GROUP)
    await ensure_group(r, keys.results, SCHEDULER_GROUP, start_id="$")  # read all, acked all
    read: Any = await r.xreadgroup(REPORTER_GROUP, "behind", {keys.results: ">"}, count=20)
    delivered = [entry_id for entry_id, _ in read[0][1]]
    await r.xack(keys.results, REPORTER_GROUP, *delivered[:10])  # 10 pending, 30 never read

    now_s = (T0_MS + 40 * DAY_MS) / 1000
    done = await apply_retention(r, keys, RetentionPolicy(history_s=DAY_MS / 1000), now_s)
    assert done["stream_results"] == 10  # only what every group has acked
    assert await r.xlen(keys.results) == 40

    reporter = Reporter(r, Config(namespace=keys.ns))
    reporter.consumer.claim_idle_ms = 0  # the lagging consumer is gone: take its entries
    while await reporter.run_once(block_ms=None):
        pass
    recorded = [await r.exists(keys.result(d.run_id)) for d in runs[10:]]
    assert all(recorded)
    pending: Any = await r.xpending(keys.results, REPORTER_GROUP)
    assert pending["pending"] == 0
