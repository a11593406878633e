"""Fenced, atomic writes of the scheduler: emissions and schedule moves (Lua, batched).

Every call carries the leader token; Redis refuses the whole call when the token no
longer holds the lease (:class:`FencedOut`). An emission sets the occurrence's fired
marker NX, XADDs ``task.due``, takes a run lease for ``max_instances``/window
accounting, records the decision and moves the task's next fire, all in one script.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from services.scheduler.planning import Decision
from shared.codec import encode
from shared.events import TaskDue
from shared.keys import Keys
from shared.redis import Redis
from shared.scripts import script

FIRED_TTL_MS: Final = 7 * 86_400_000
"""How long an occurrence's fired marker lives: longer than any catch-up horizon."""
BATCH: Final = 500
"""Emissions per script call: large enough to amortise round trips, small enough that
one call never blocks Redis for long."""

EMITTED, DUPLICATE, SKIPPED_OVERLAP, DEFERRED_OVERLAP, DEFERRED_WINDOW = 1, 0, 2, 3, 4
"""Per-item codes returned by :meth:`Emitter.emit`."""


class FencedOut(RuntimeError):
    """This replica's leader token is stale: another replica leads now."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Emission:
    """One ``task.due`` to emit and what to do with the task's schedule afterwards.

    ``next_score`` '' leaves the schedule alone (manual, retry, …), '-' ends it;
    ``defer_score`` is where the task's next fire moves when it is deferred.
    """

    due: TaskDue
    slot: str
    window: str | None = None
    window_max: int = 0
    overlap: str = "skip"
    next_score: str = ""
    next_slot: str = ""
    defer_score: str = ""
    lease_ms: int = 0


@dataclass(frozen=True, slots=True)
class Move:
    """Move a task's next fire to ``score`` ('-' ends it), keeping or setting its slot."""

    task: str
    score: str
    slot: str = ""


@dataclass
class Emitter:
    """Runs the fenced scripts for one namespace."""

    r: Redis
    keys: Keys
    decisions_kept: int = 1000

    async def emit(self, token: str, items: Sequence[Emission], now_ms: int) -> list[int]:
        """Emit ``items`` in batches; one code per item (see the module constants)."""
        codes: list[int] = []
        for start in range(0, len(items), BATCH):
            codes += await self._emit_batch(token, items[start : start + BATCH], now_ms)
        return codes

    async def _emit_batch(self, token: str, items: Sequence[Emission], now_ms: int) -> list[int]:
        keys = [self.keys.scheduler_leader, self.keys.schedule_next, self.keys.schedule_slots]
        args: list[Any] = [token, FIRED_TTL_MS, now_ms, self.decisions_kept]
        args += [TaskDue.TYPE, "1"]
        for item in items:
            keys += self._item_keys(item)
            args += _item_args(item)
        result = await script(self.r, "schedule_emit")(keys=keys, args=args)
        if result == -1:
            raise FencedOut(f"token {token} no longer holds the lease")
        return [int(code) for code in result]

    def _item_keys(self, item: Emission) -> list[str]:
        task, k = item.due.task, self.keys
        running = k.running(task)
        return [
            k.fired(task, item.slot), k.due(item.due.priority), running,
            k.window_running(item.window) if item.window else running,
            k.schedule_state(task), k.decisions(task),
        ]  # fmt: skip

    async def advance(
        self, token: str, moves: Sequence[Move], decisions: Sequence[tuple[str, Decision]],
        now_ms: int,
    ) -> None:  # fmt: skip
        """Move schedules and record ``(task, decision)`` pairs without emitting."""
        if not moves and not decisions:
            return
        keys = [self.keys.scheduler_leader, self.keys.schedule_next, self.keys.schedule_slots]
        args: list[Any] = [token, now_ms, self.decisions_kept, len(moves)]
        for move in moves:
            args += [move.task, move.score, move.slot]
        for task, d in decisions:
            keys.append(self.keys.decisions(task))
            args += [len(keys), d.slot, d.outcome, d.reason]
        if await script(self.r, "schedule_advance")(keys=keys, args=args) == -1:
            raise FencedOut(f"token {token} no longer holds the lease")


def _item_args(item: Emission) -> list[Any]:
    due = item.due
    return [
        due.task, item.slot, due.run_id, encode(due)["body"], due.max_instances or 0,
        item.overlap, item.window_max, item.next_score, item.next_slot, item.defer_score,
        item.lease_ms,
    ]  # fmt: skip
