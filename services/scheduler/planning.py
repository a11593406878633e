"""Pure planning: what to do with a task's overdue slots at instant ``now``.

``plan`` applies, in order: the misfire grace (slots later than the grace are missed),
catch-up (``all`` fires each slot within the grace, ``coalesce`` merges them into one run
for the latest, ``skip`` drops any backlog and waits for the next regular slot), then
the gates — paused, outside the task's window, upstream failed, upstream pending
(deferred until it succeeds or the grace runs out), cooldown. Every slot not fired
comes back as a :class:`Decision`, so the scheduler can record why. Slots are epoch ms;
the next slot is always computed from the previous slot, never from ``now``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, Literal

from shared.timing.schedules import Schedule, fire_time, iso, next_slot

CATCH_UP_CAP: Final = 10_000
"""Most slots walked one by one in a plan; a longer outage is skipped over in one step."""

Outcome = Literal["fired", "skipped", "missed", "coalesced", "deferred", "retry"]


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
class Decision:
    """Why a slot was not fired (or, for ``missed``, a range of slots); ``slot`` is epoch
    ms for schedule slots, the run's slot text (``m<entry id>``, …) otherwise."""

    slot: int | str
    outcome: Outcome
    reason: str


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
        return Decision(first, "skipped", f"dependency: {why}")
    span = iso(first) if count == 1 else f"{count} slots from {iso(first)} to {iso(last)}"
    return Decision(first, "missed", f"{span}: more than {s.grace_s:g} s late (misfire grace)")


def _catch_up(s: Schedule, due: list[int], missed: int, out: list[Decision]) -> list[int]:
    if s.catch_up == "all" or (len(due) <= 1 and (s.catch_up != "skip" or not missed)):
        return due
    if s.catch_up == "coalesce":
        latest = iso(due[-1])
        out.extend(Decision(d, "coalesced", f"merged into the run for {latest}") for d in due[:-1])
        return due[-1:]
    backlog = len(due) + missed
    out.extend(
        Decision(d, "skipped", f"catch_up: skip drops a backlog of {backlog} slots") for d in due
    )
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
        elif blocked[0] == "deferred":
            out.append(Decision(slot, "deferred", blocked[1]))
            return fires, slot
        else:
            out.append(Decision(slot, "skipped", blocked[1]))
    return fires, None


def _blocked(
    s: Schedule, now: float, facts: Facts, last_fired: float | None
) -> tuple[Outcome, str] | None:
    if facts.paused:
        return "skipped", "paused: the task is paused"
    if s.window is not None and not s.window.contains(_dt(now)):
        opens = s.window.next_start(_dt(now))
        when = f"; it opens next at {opens.isoformat()}" if opens else ""
        return "skipped", f"window: outside window {s.window.name!r}{when}"
    if facts.upstream_failed:
        return "skipped", f"dependency: upstream {facts.upstream_failed!r} failed this cycle"
    if facts.upstream_pending:
        why = f"waiting for upstream {facts.upstream_pending!r} to succeed this cycle"
        return "deferred", f"dependency: {why}"
    if s.cooldown_s and last_fired is not None and now - last_fired < s.cooldown_s:
        left = s.cooldown_s - (now - last_fired)
        return "skipped", f"cooldown: last run {now - last_fired:.0f} s ago, {left:.0f} s left"
    return None


def _deadline(s: Schedule, now: float) -> float | None:
    if s.window is None:
        return None
    end = s.window.current_end(_dt(now))
    return end.timestamp() if end is not None else None


def _dt(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)
