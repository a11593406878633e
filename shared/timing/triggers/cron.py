"""A trigger driven by a cron expression, evaluated on the local wall clock.

croniter only enumerates matching naive wall times here; DST is resolved by this
package's own policy (``dst.resolve_local``), not by croniter's timezone handling, so
cron follows the same gap/fold rules as every other wall-clock trigger.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import CroniterBadDateError, CroniterError, croniter

from shared.timing.triggers.base import (
    UTC_ZONE,
    FoldPolicy,
    GapPolicy,
    TriggerIterationError,
    check_policies,
)
from shared.timing.triggers.wallclock import next_wall_fire

# (name, lowest, highest) per field; croniter's optional sixth field is seconds.
_FIELDS = (
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day-of-month", 1, 31),
    ("month", 1, 12),
    ("day-of-week", 0, 7),
    ("second", 0, 59),
)
_PROBE_START = datetime(2000, 1, 1)


def check_cron(expr: str) -> None:
    """Raise ``ValueError`` unless ``expr`` is a 5- or 6-field cron expression that fires.

    The message quotes the expression and names the offending field, e.g.
    ``'0 25 * * *' is not a valid cron expression (hour 25)``.
    """
    fields = expr.split()
    if len(fields) not in (5, 6):
        _invalid(expr, f"expected 5 or 6 fields, got {len(fields)}")
    for text, (name, low, high) in zip(fields, _FIELDS, strict=False):
        problem = _field_problem(text, name, low, high)
        if problem:
            _invalid(expr, problem)
    try:
        croniter(normalize_cron(expr), _PROBE_START).get_next(datetime)
    except CroniterBadDateError:
        _invalid(expr, "it matches no date")
    except (CroniterError, ValueError, KeyError) as exc:
        _invalid(expr, _blame_field(fields) or str(exc) or type(exc).__name__)


def normalize_cron(expr: str) -> str:
    """``expr`` with single-value ranges (``3-3``, ``3-3/2``) written as the value ``3``.

    croniter reads an equal-bounds range as the whole field ("0 3-3 * * *" fires every
    hour); in cron it means that one value.
    """
    return " ".join(",".join(_single(item) for item in f.split(",")) for f in expr.split())


def _single(item: str) -> str:
    low, dash, rest = item.partition("-")
    high = rest.partition("/")[0]
    return low if dash and low == high else item


def _invalid(expr: str, detail: str) -> None:
    raise ValueError(f"{expr!r} is not a valid cron expression ({detail})")


def _field_problem(text: str, name: str, low: int, high: int) -> str | None:
    """A description of the first out-of-range number or bad step in one field."""
    for item in text.split(","):
        base, _, step = item.partition("/")
        if step and (not step.isdigit() or int(step) == 0):
            return f"{name} step {step!r}"
        for number in base.split("-"):
            if number.isdigit() and not low <= int(number) <= high:
                return f"{name} {number}"
    return None


def _blame_field(fields: list[str]) -> str | None:
    """Name the first field croniter rejects on its own (all other fields ``*``)."""
    for index, text in enumerate(fields):
        probe = ["*"] * len(fields)
        probe[index] = text
        try:
            croniter(" ".join(probe), _PROBE_START)
        except (CroniterError, ValueError, KeyError):
            return f"{_FIELDS[index][0]} {text!r}"
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class CronTrigger:
    """Fires at every local wall time in ``timezone`` that matches cron ``expr``.

    Five fields (minute hour day-of-month month day-of-week) or six (plus seconds, last,
    as croniter reads them). Day-of-month and day-of-week combine with OR when both are
    restricted (Vixie cron). DST policies as for :class:`DailyTrigger`.
    """

    expr: str
    timezone: ZoneInfo = UTC_ZONE
    gap: GapPolicy = "shift"
    fold: FoldPolicy = "first"

    def __post_init__(self) -> None:
        check_cron(self.expr)
        check_policies(self.gap, self.fold)

    def next_fire_after(self, after: datetime) -> datetime | None:
        """The first matching local wall time strictly after ``after`` (aware UTC)."""
        return next_wall_fire(after, self.timezone, self._walls, gap=self.gap, fold=self.fold)

    def _walls(self, start: datetime) -> Iterator[datetime]:
        # croniter yields strictly after its start; one second earlier keeps `start` in.
        walls = croniter(normalize_cron(self.expr), start - timedelta(seconds=1))
        while True:
            try:
                yield walls.get_next(datetime)
            except CroniterBadDateError as exc:
                raise TriggerIterationError(f"cron {self.expr!r} found no next date") from exc
