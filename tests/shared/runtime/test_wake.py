"""The timer's flag: timed waits end by running out or by set, never by an exception."""

from __future__ import annotations

import asyncio
import time

import pytest

from shared.runtime.wake import Wake


async def test_a_wait_that_runs_out_returns_false_after_its_time() -> None:
    wake = Wake()
    began = time.perf_counter()
    assert await wake.wait_up_to(0.02) is False
    assert time.perf_counter() - began >= 0.019
    assert wake._waiters == []  # nothing left behind


async def test_set_wakes_every_waiter_at_once_even_if_cleared_before_they_run() -> None:
    wake = Wake()
    waits = [asyncio.create_task(wake.wait_up_to(10)), asyncio.create_task(wake.wait())]
    await asyncio.sleep(0)
    began = time.perf_counter()
    wake.set()
    wake.clear()
    assert await asyncio.gather(*waits) == [True, True]
    assert time.perf_counter() - began < 5  # not the 10 s deadline
    assert not wake.is_set()


async def test_a_set_flag_answers_at_once_until_cleared() -> None:
    wake = Wake()
    wake.set()
    assert wake.is_set()
    assert await wake.wait_up_to(10) is True
    wake.clear()
    assert await wake.wait_up_to(0) is False


async def test_a_cancelled_waiter_is_forgotten_and_the_others_still_wake() -> None:
    wake = Wake()
    gone = asyncio.create_task(wake.wait_up_to(10))
    stays = asyncio.create_task(wake.wait_up_to(10))
    await asyncio.sleep(0)
    gone.cancel()
    with pytest.raises(asyncio.CancelledError):
        await gone
    assert len(wake._waiters) == 1
    wake.set()
    assert await stays is True
