"""What is due next: the timer's view of the schedule zsets between two ticks.

``schedule_head.lua`` answers it alone (after an event woke the timer) and
``schedule_emit.lua`` answers it after the writes of a tick's last call, so a quiet
schedule costs one round trip per tick: the emission, whose reply already says when the
next tick is and, when that is little, what it holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from shared.contract.keys import Keys
from shared.contract.scripts import run
from shared.runtime.redis import Redis, text

LISTED: Final = 100
"""Most entries of each kind (slots, retries) a lookahead lists; a larger tick is read
when it is staged (it is staged ahead of its instant by more than a round trip anyway)."""
EARLY_S: Final = 0.003
"""Stage a tick that must be read this long before its instant (plus
:data:`STAGE_S_PER_TASK` per due entry): the loop's timer may wake ~1 ms late and
staging takes two round trips."""
STAGE_S_PER_TASK: Final = 250e-6
"""Least time allowed to stage one due task, with headroom for a busy machine and GC: a
task's first fire after a takeover (its definition parsed, its kit built) took 45-65 µs
on one shared 2-core machine and 160-200 µs on a slower one, later fires 15-25 µs on the
first: 10,000 tasks due at once are staged at least 2.5 s ahead. A slower stage seen
raises it (:class:`StagePace`); the first large tick after a takeover has only this."""
PACE_SAMPLE: Final = 200
"""Least due entries a stage must hold for :class:`StagePace` to learn from its time
(a small one is mostly its round trips)."""
PACE_HEADROOM: Final = 1.5
"""What the lead allows per entry, as a multiple of the last large stage's time per entry."""
PACE_MOST_S: Final = 0.001
"""Most time allowed per entry, however slow a stage was (a stall of the process must not
make the timer plan minutes ahead: facts read for a plan are the older the earlier)."""
PACE_DECAY: Final = 0.9
"""Each large stage lowers a raised allowance to at least this share of what it was (a
machine found slow once is trusted to be slow for a while)."""


@dataclass(frozen=True, slots=True)
class Ahead:
    """The earliest next fire or retry ``at`` (None: nothing is scheduled) and what is
    due by ``bound`` (``at``, or the reader's now when ``at`` had passed): ``count``
    entries, listed in ``due`` (task → pending slot as stored) and ``retries`` (retry
    zset members) when there were at most :data:`LISTED` of each."""

    at: float | None
    bound: float = 0.0
    count: int = 0
    due: dict[str, Any] | None = None
    retries: list[str] | None = None

    def lead_s(self, per_entry_s: float = STAGE_S_PER_TASK) -> float:
        """How long before :attr:`at` to read and plan the tick, staging taking
        ``per_entry_s`` per due entry (:class:`StagePace`)."""
        return EARLY_S + self.count * per_entry_s

    def covers(self, at: float) -> bool:
        """Whether the listed entries are everything due at ``at``."""
        return self.due is not None and at <= self.bound


NOTHING: Final = Ahead(None)


@dataclass
class StagePace:
    """How long to allow for staging one due entry, learnt from the large stages seen.

    A fixed allowance is right for one machine only: where staging takes longer (a slow
    or loaded host, 140-160 µs per first fire was seen), a large tick would be sent late
    by the difference (10,000 tasks: 100-200 ms). The allowance rises at once to
    :data:`PACE_HEADROOM` times what a stage took per entry, never falls below
    :data:`STAGE_S_PER_TASK` nor rises above :data:`PACE_MOST_S`, and falls back slowly
    (:data:`PACE_DECAY` per large stage).
    """

    per_entry_s: float = STAGE_S_PER_TASK

    def observe(self, entries: int, seconds: float) -> None:
        """A stage of ``entries`` due entries took ``seconds``."""
        if entries < PACE_SAMPLE:
            return
        seen = PACE_HEADROOM * seconds / entries
        allowed = max(STAGE_S_PER_TASK, seen, self.per_entry_s * PACE_DECAY)
        self.per_entry_s = min(allowed, PACE_MOST_S)


def parse(reply: Any) -> Ahead:
    """An :class:`Ahead` from ``ahead()``'s reply (schedule_ahead.lua)."""
    if not reply:
        return NOTHING
    head, bound, count = float(reply[0]), float(reply[1]), int(reply[2])
    if len(reply) < 5:
        return Ahead(head, bound, count)
    due, retries = reply[3], reply[4]
    pending = {text(due[i]): due[i + 1] for i in range(0, len(due), 2)}
    return Ahead(head, bound, count, pending, [text(m) for m in retries])


async def peek(r: Redis, keys: Keys, now: float) -> Ahead:
    """Read what is due next, as of ``now`` (one round trip)."""
    reply = await run(r, "schedule_head",
                      [keys.schedule_next, keys.schedule_slots, keys.schedule_retries],
                      [repr(now), LISTED])  # fmt: skip
    return parse(reply)
