"""The trigger contract every trigger kind implements, and the errors it raises.

A trigger is a stateless frozen object that answers one question: given an instant,
when is the next fire strictly after it? The last fire time lives with the caller
(in Redis), which keeps replay after failover and "preview the next N fires" trivial.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final, Literal, Protocol, runtime_checkable
from zoneinfo import ZoneInfo

UTC_ZONE: Final = ZoneInfo("UTC")
"""The default ``timezone`` of every trigger kind."""

GapPolicy = Literal["shift", "skip"]
"""What a wall-clock trigger does when its local time does not exist (spring forward):
``shift`` fires once at the instant the gap ends, ``skip`` does not fire."""

FoldPolicy = Literal["first", "last", "both"]
"""What a wall-clock trigger does when its local time happens twice (fall back): fire on
the ``first`` occurrence, the ``last`` one, or ``both``."""

GAP_POLICIES: tuple[GapPolicy, ...] = ("shift", "skip")
"""Every valid gap policy, for validation and error messages."""

FOLD_POLICIES: tuple[FoldPolicy, ...] = ("first", "last", "both")
"""Every valid fold policy, for validation and error messages."""

MAX_ITERATIONS = 500_000
"""Candidates a trigger may examine in one call before giving up with
:class:`TriggerIterationError` (a second-level cron walking Apia's skipped day needs
86,400; anything far beyond that is a schedule that can never fire)."""


class TriggerIterationError(RuntimeError):
    """A trigger examined more than :data:`MAX_ITERATIONS` candidates in one call.

    Raised instead of looping forever on a schedule that (almost) never fires.
    """


class TriggerSpecError(ValueError):
    """A schedule, calendar or window spec is invalid.

    ``field`` is the key within the spec that is wrong (e.g. ``"cron"``), ``message``
    says what is wrong with it in words a config author can act on.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@runtime_checkable
class Trigger(Protocol):
    """Anything that can compute its next fire time.

    ``next_fire_after(after)`` takes an aware instant (naive raises ``ValueError``) and
    returns an aware UTC instant strictly greater than ``after``, or ``None`` when the
    trigger will never fire again. It must not read the clock, log or do I/O, and it
    raises :class:`TriggerIterationError` rather than search without bound.
    """

    def next_fire_after(self, after: datetime) -> datetime | None:
        """The first fire instant strictly after ``after`` (aware UTC), or ``None``."""
        ...


@runtime_checkable
class SessionCalendar(Protocol):
    """What calendar-aware triggers need from a calendar (``shared.timing.calendars.Calendar``).

    Sessions are half-open ``[open, close)`` intervals of aware UTC instants.
    """

    def is_open(self, t: datetime) -> bool:
        """Whether the aware instant ``t`` lies inside a session."""
        ...

    def next_open(self, after: datetime) -> datetime | None:
        """The first session open strictly after ``after``, or ``None`` if none remain."""
        ...

    def next_close(self, after: datetime) -> datetime | None:
        """The first session close strictly after ``after``, or ``None`` if none remain."""
        ...


def as_utc(after: datetime) -> datetime:
    """``after`` converted to UTC; raises ``ValueError`` if it is naive.

    A naive datetime has no single meaning for a scheduler spanning time zones, so it is
    refused rather than guessed.
    """
    if after.tzinfo is None or after.utcoffset() is None:
        raise ValueError(f"expected an aware datetime, got naive {after.isoformat()}")
    return after.astimezone(UTC)


def check_policies(gap: str, fold: str) -> None:
    """Raise ``ValueError`` unless ``gap`` and ``fold`` are valid DST policies."""
    if gap not in GAP_POLICIES:
        raise ValueError(f"gap policy must be one of {', '.join(GAP_POLICIES)}, got {gap!r}")
    if fold not in FOLD_POLICIES:
        raise ValueError(f"fold policy must be one of {', '.join(FOLD_POLICIES)}, got {fold!r}")
