"""The timer's last wait before a fire: precise, and without spinning the event loop."""

from __future__ import annotations

import random
import time
from types import SimpleNamespace

import uvloop

from services.scheduler.service import COARSE_S, TIMER_TICK_S, Scheduler
from shared.runtime.clock import SystemClock
from shared.runtime.wake import Wake


class CountingWake(Wake):
    __slots__ = ("waits",)

    def __init__(self) -> None:
        super().__init__()
        self.waits = 0

    async def wait_up_to(self, seconds: float) -> bool:
        self.waits += 1
        return await super().wait_up_to(seconds)


def test_the_final_wait_ends_on_time_with_at_most_two_loop_timers_on_uvloop() -> None:
    """uvloop's timers count whole milliseconds: asked for a few hundred µs they end at
    once, and a wait that kept asking for the rest turned the loop dozens of times."""
    rng = random.Random(5)

    async def waits() -> list[tuple[int, float]]:
        out = []
        for _ in range(150):
            wake = CountingWake()
            timer = SimpleNamespace(clock=SystemClock(), wake=wake)
            due = time.time() + rng.uniform(0.0015, 0.012)
            replan = await Scheduler._final_wait(timer, due, planned_early=False)  # type: ignore[arg-type]
            assert replan is False
            out.append((wake.waits, time.time() - due))
        return out

    results = uvloop.run(waits())
    assert max(w for w, _ in results) <= 2, sorted(w for w, _ in results)[-10:]
    assert min(late for _, late in results) >= 0  # never before the instant
    assert COARSE_S + TIMER_TICK_S <= 0.002  # the blocking nap stays short
