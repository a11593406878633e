"""Named trading calendars: regular weekly sessions, holidays, early closes, late opens.

A calendar answers "is the market open at instant t?" and "when is the next open or
close?" from plain data, so it is pure and cheap. Sessions are half-open
``[open, close)``: at the closing bell the market counts as closed. Local session times
resolve to UTC with the package DST rule (a nonexistent time moves to the end of the
gap, an ambiguous one means its first occurrence).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from shared.timing.triggers.base import as_utc
from shared.timing.triggers.dst import local_to_utc, wall_time

Session = tuple[datetime, datetime]
"""One session as aware UTC ``(open, close)``; the close itself is outside it."""

EXCHANGE_FIRST_DAY = date(2000, 1, 1)
"""First day loaded from ``exchange_calendars`` for an ``exchange:`` calendar."""

EXCHANGE_LAST_DAY = date(2040, 12, 31)
"""Last day loaded from ``exchange_calendars``; later days follow the regular sessions."""

_DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True, kw_only=True)
class Calendar:
    """A named calendar of sessions in ``timezone``.

    ``sessions`` maps a weekday (Monday=0 .. Sunday=6) to ``(open, close)`` local times;
    a close at or before its open ends on the next day (overnight session). A date in
    ``holidays`` has no sessions. ``early_closes`` / ``late_opens`` move the close / open
    of that date's sessions to the given local time (a session left empty is dropped).
    ``exchange`` records the exchange code the data came from, if any.
    """

    name: str
    timezone: ZoneInfo
    sessions: Mapping[int, tuple[tuple[time, time], ...]]
    holidays: frozenset[date] = frozenset()
    early_closes: Mapping[date, time] = field(default_factory=dict)
    late_opens: Mapping[date, time] = field(default_factory=dict)
    exchange: str | None = None

    def __post_init__(self) -> None:
        if not set(self.sessions) <= set(range(7)):
            raise ValueError(f"session weekdays must be 0..6, got {sorted(self.sessions)}")

    def sessions_on(self, day: date) -> list[Session]:
        """The sessions that open on local date ``day``, in order, as UTC instants."""
        if day in self.holidays:
            return []
        found = []
        for open_t, close_t in self.sessions.get(day.weekday(), ()):
            bounds = self._local_bounds(day, open_t, close_t)
            if bounds is not None:
                found.append(
                    (local_to_utc(bounds[0], self.timezone), local_to_utc(bounds[1], self.timezone))
                )
        return sorted(found)

    def is_open(self, t: datetime) -> bool:
        """Whether aware instant ``t`` lies in a session (``open <= t < close``)."""
        t = as_utc(t)
        today = wall_time(t, self.timezone).date()
        sessions = self.sessions_on(today - _DAY) + self.sessions_on(today)
        return any(open_ <= t < close for open_, close in sessions)

    def next_open(self, after: datetime) -> datetime | None:
        """The first session open strictly after ``after``; ``None`` if there are no sessions."""
        after = as_utc(after)
        return next((o for o, _ in self._sessions_from(after) if o > after), None)

    def next_close(self, after: datetime) -> datetime | None:
        """The first session close strictly after ``after``; ``None`` if there are no sessions."""
        after = as_utc(after)
        return next((c for _, c in self._sessions_from(after) if c > after), None)

    def sessions_between(self, start: datetime, end: datetime) -> list[Session]:
        """Every session overlapping ``[start, end)``, unclipped, in order."""
        start, end = as_utc(start), as_utc(end)
        day = wall_time(start, self.timezone).date() - _DAY
        last = wall_time(end, self.timezone).date()
        found: list[Session] = []
        while day <= last:
            found.extend(s for s in self.sessions_on(day) if s[1] > start and s[0] < end)
            day += _DAY
        return found

    def _sessions_from(self, after: datetime) -> Iterator[Session]:
        """Sessions opening from the local day before ``after`` on, for a bounded span.

        Holidays and moved opens/closes are finite, so a calendar with any regular session
        has one within a week of the last special day; the span covers that.
        """
        if not any(self.sessions.values()):
            return
        specials = len(self.holidays) + len(self.early_closes) + len(self.late_opens)
        day = wall_time(after, self.timezone).date() - _DAY
        for _ in range(7 * (specials + 2)):
            yield from self.sessions_on(day)
            day += _DAY

    def _local_bounds(
        self, day: date, open_t: time, close_t: time
    ) -> tuple[datetime, datetime] | None:
        """Local naive (open, close) of one session on ``day`` after special hours."""
        open_wall = datetime.combine(day, open_t)
        close_wall = _at_or_after(open_wall, close_t, strictly=True)
        if day in self.late_opens:
            open_wall = max(open_wall, _at_or_after(open_wall, self.late_opens[day]))
        if day in self.early_closes:
            close_wall = min(
                close_wall, _at_or_after(datetime.combine(day, open_t), self.early_closes[day])
            )
        return (open_wall, close_wall) if open_wall < close_wall else None


def _at_or_after(start: datetime, at: time, *, strictly: bool = False) -> datetime:
    """The first local wall time showing ``at`` at (or strictly after) ``start``."""
    candidate = datetime.combine(start.date(), at)
    if candidate < start or (strictly and candidate == start):
        candidate += _DAY
    return candidate


def exchange_calendar(name: str, code: str) -> Calendar:
    """A :class:`Calendar` named ``name`` with the sessions of exchange ``code`` (e.g. XNYS).

    Needs the optional extra ``watchkeeper[calendars]`` (the ``exchange_calendars``
    library, imported only here). Sessions, holidays, early closes and late opens are
    loaded for :data:`EXCHANGE_FIRST_DAY` .. :data:`EXCHANGE_LAST_DAY`; raises
    ``ValueError`` for an unknown code and ``ImportError`` when the extra is missing.
    """
    try:
        # Optional and heavy (pandas): imported only when a calendar names an exchange.
        import exchange_calendars
    except ImportError as exc:
        raise ImportError(
            f"calendar {name!r} names exchange {code} but the optional extra "
            "watchkeeper[calendars] is not installed"
        ) from exc
    try:
        # exchange_calendars still calls pandas APIs that newer pandas deprecates; that
        # noise is not actionable for a config author, so it stays inside this call.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            source = exchange_calendars.get_calendar(
                code, start=EXCHANGE_FIRST_DAY.isoformat(), end=EXCHANGE_LAST_DAY.isoformat()
            )
    except exchange_calendars.errors.InvalidCalendarName as exc:
        raise ValueError(f"calendar {name!r}: unknown exchange {code!r}") from exc
    return _from_exchange(name, code, source)


def _from_exchange(name: str, code: str, source: Any) -> Calendar:
    """Translate an ``exchange_calendars.ExchangeCalendar`` into plain calendar data."""
    tz = ZoneInfo(str(source.tz))
    regular = (source.open_times[-1][1], source.close_times[-1][1])
    weekdays = [index for index, flag in enumerate(source.weekmask) if flag == "1"]
    days = [label.date() for label in source.schedule.index]
    opens = source.schedule["open"].dt.tz_convert(str(tz)).dt.time
    closes = source.schedule["close"].dt.tz_convert(str(tz)).dt.time
    late = {day: t for day, t in zip(days, opens, strict=True) if t != regular[0]}
    early = {day: t for day, t in zip(days, closes, strict=True) if t != regular[1]}
    return Calendar(
        name=name,
        timezone=tz,
        sessions=dict.fromkeys(weekdays, (regular,)),
        holidays=frozenset(_non_trading(weekdays, set(days))),
        early_closes=early,
        late_opens=late,
        exchange=code,
    )


def _non_trading(weekdays: list[int], trading_days: set[date]) -> Iterator[date]:
    """Regular weekdays in the loaded span that have no session."""
    day = EXCHANGE_FIRST_DAY
    while day <= EXCHANGE_LAST_DAY:
        if day.weekday() in weekdays and day not in trading_days:
            yield day
        day += _DAY
