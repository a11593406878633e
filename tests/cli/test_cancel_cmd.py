"""``watchkeeper cancel RUN_ID`` through the real entry point, with a real executor
in-process: the run ends ``cancelled``; an unknown run exits 3."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from shared.contract.keys import Keys
from shared.contract.running import lease_now_ms
from shared.runtime.redis import Redis
from tests.cli.conftest import Invoke
from tests.executor.executor_support import (
    make_due,
    pending_count,
    publish_due,
    serving_executor,
    started,
    wait_results,
)


async def test_a_running_run_cancelled_through_the_cli(
    r: Redis, keys: Keys, tmp_path: Path, wk: Invoke
) -> None:
    due = make_due("t_sleep", params={"seconds": 60})
    async with serving_executor(r, keys, tmp_path):
        await publish_due(r, keys, due)
        await started(r, keys, due.run_id)
        done = await asyncio.to_thread(wk, "cancel", due.run_id, "-o", "json")
        assert done.exit_code == 0, done.output
        assert json.loads(done.stdout) == {"run_id": due.run_id, "status": "cancel_requested"}
        [result] = await wait_results(r, keys, 1, timeout_s=10)
        assert result.status == "cancelled"
        assert result.error is not None and "cli:" in result.error["message"]
        assert await pending_count(r, keys) == 0
        unknown = await asyncio.to_thread(wk, "cancel", "nope:1")
        assert unknown.exit_code == 3
        assert "no unfinished run 'nope:1'" in unknown.stderr


async def test_a_run_whose_lease_expired_is_not_cancelled_and_a_live_one_is(
    r: Redis, keys: Keys, wk: Invoke
) -> None:
    """A lease left by a run whose result never came (its executor lost for good) is
    over once it expires: nothing to cancel. A live lease is a queued run."""
    now_ms = await lease_now_ms(r)
    await r.zadd(keys.running("t"), {"t:lost": now_ms - 1, "t:queued": now_ms + 600_000})
    lost = await asyncio.to_thread(wk, "cancel", "t:lost")
    assert lost.exit_code == 3
    assert "no unfinished run 't:lost'" in lost.stderr
    queued = await asyncio.to_thread(wk, "cancel", "t:queued")
    assert queued.exit_code == 0, queued.output
    assert await r.exists(keys.cancel("t:queued")) == 1
    assert await r.exists(keys.cancel("t:lost")) == 0
