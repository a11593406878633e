"""Pure planning: what to do with a task's overdue slots at instant ``now``.

``plan`` applies, in order: the misfire grace (slots later than the grace are missed),
catch-up (``all`` fires each slot within the grace, ``coalesce`` merges them into one run
for the latest, ``skip`` drops any backlog and waits for the next regular slot), then
the gates — paused, outside the task's window, upstream failed, upstream pending
(deferred until it succeeds or the grace runs out), cooldown. Every slot not fired
comes back as a :class:`~shared.contract.decisions.Decision`, so the scheduler can
record why. Slots are epoch ms;
the next slot is always computed from the previous slot, never from ``now``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from shared.contract.decisions import Cause, Decision, Outcome
from shared.timing.schedules import Schedule, fire_time, iso, next_slot

CATCH_UP_CAP: Final = 10_000
"""Most slots walked one by one in a plan; a longer outage is skipped over in one step."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Facts:
    """Runtime facts read from Redis just before planning."""

    paused: bool = False
    last_fired_at: float | None = None
    upstream_failed: str | None = None
    upstream_pending: str | None = None


@dataclass(frozen=True, slots=True)
class Fire:
    """A slot to emit: ``at`` is its fire time (slot + jitter), ``deadline`` the window end."""

    slot_ms: int
    at: float
    deadline: float | None = None


@dataclass(frozen=True, slots=True)
class Plan:
    """The result of :func:`plan`.

    ``next_slot_ms`` is the slot to keep pending (None: the schedule has ended) and
    ``next_at`` when to look at the task again (its fire time, or a deferral's give-up).
    """

    fires: tuple[Fire, ...] = ()
    decisions: tuple[Decision, ...] = ()
    next_slot_ms: int | None = None
    next_at: float | None = None


def plan(s: Schedule, pending_ms: int, now: float, facts: Facts) -> Plan:
    """Handle every slot of ``s`` due at ``now``, starting with ``pending_ms``."""
    decisions: list[Decision] = []
    slot, missed = _skip_missed(s, pending_ms, now, facts, decisions)
    due: list[int] = []
    while slot is not None and fire_time(s, slot) <= now and len(due) < CATCH_UP_CAP:
        due.append(slot)
        slot = next_slot(s, slot)
    chosen = _catch_up(s, due, missed, decisions)
    fires, deferred = _gate(s, chosen, now, facts, decisions)
    if deferred is not None:
        return Plan(tuple(fires), tuple(decisions), deferred, fire_time(s, deferred) + s.grace_s)
    upcoming = None if slot is None else fire_time(s, slot)
    return Plan(tuple(fires), tuple(decisions), slot, upcoming)


def _skip_missed(
    s: Schedule, slot: int | None, now: float, facts: Facts, out: list[Decision]
) -> tuple[int | None, int]:
    first, count, last = slot, 0, slot
    while slot is not None and fire_time(s, slot) < now - s.grace_s:
        count, last = count + 1, slot
        slot = next_slot(s, slot)
        if count >= CATCH_UP_CAP:
            slot = next_slot(s, (now - s.grace_s) * 1000)
            break
    if count and first is not None and last is not None:
        out.append(_missed(s, first, last, count, facts))
    return slot, count


def _missed(s: Schedule, first: int, last: int, count: int, facts: Facts) -> Decision:
    if facts.upstream_pending:
        why = f"upstream {facts.upstream_pending!r} had not succeeded within the grace"
        return _decision(first, Outcome.SKIPPED, Cause.DEPENDENCY, why)
    span = iso(first) if count == 1 else f"{count} slots from {iso(first)} to {iso(last)}"
    return _decision(first, Outcome.MISSED, Cause.MISFIRE,
                     f"{span}: more than {s.grace_s:g} s late (misfire grace)")  # fmt: skip


def _catch_up(s: Schedule, due: list[int], missed: int, out: list[Decision]) -> list[int]:
    if s.catch_up == "all" or (len(due) <= 1 and (s.catch_up != "skip" or not missed)):
        return due
    if s.catch_up == "coalesce":
        why = f"merged into the run for {iso(due[-1])}"
        out.extend(_decision(d, Outcome.COALESCED, Cause.CATCH_UP, why) for d in due[:-1])
        return due[-1:]
    why = f"skip drops a backlog of {len(due) + missed} slots"
    out.extend(_decision(d, Outcome.SKIPPED, Cause.CATCH_UP, why) for d in due)
    return []


def _gate(
    s: Schedule, chosen: list[int], now: float, facts: Facts, out: list[Decision]
) -> tuple[list[Fire], int | None]:
    fires: list[Fire] = []
    last_fired = facts.last_fired_at
    for slot in chosen:
        blocked = _blocked(s, now, facts, last_fired)
        if blocked is None:
            fires.append(Fire(slot, fire_time(s, slot), _deadline(s, now)))
            last_fired = now
            continue
        out.append(_decision(slot, *blocked))
        if blocked[0] == Outcome.DEFERRED:
            return fires, slot
    return fires, None


def _blocked(
    s: Schedule, now: float, facts: Facts, last_fired: float | None
) -> tuple[Outcome, Cause, str] | None:
    if facts.paused:
        return Outcome.SKIPPED, Cause.PAUSED, "the task is paused"
    closed = s.window.closed_reason(_dt(now)) if s.window is not None else None
    if closed is not None:
        return Outcome.SKIPPED, Cause.WINDOW, closed
    if facts.upstream_failed:
        return (
            Outcome.SKIPPED,
            Cause.DEPENDENCY,
            f"upstream {facts.upstream_failed!r} failed this cycle",
        )
    if facts.upstream_pending:
        why = f"waiting for upstream {facts.upstream_pending!r} to succeed this cycle"
        return Outcome.DEFERRED, Cause.DEPENDENCY, why
    if s.cooldown_s and last_fired is not None and now - last_fired < s.cooldown_s:
        left = s.cooldown_s - (now - last_fired)
        why = f"last run {now - last_fired:.0f} s ago, {left:.0f} s left"
        return Outcome.SKIPPED, Cause.COOLDOWN, why
    return None


def _decision(slot: int, outcome: Outcome, cause: Cause, reason: str) -> Decision:
    return Decision(slot=str(slot), outcome=outcome, cause=cause, reason=reason)


def _deadline(s: Schedule, now: float) -> float | None:
    if s.window is None:
        return None
    end = s.window.current_end(_dt(now))
    return end.timestamp() if end is not None else None


def _dt(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)
