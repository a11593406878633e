"""Why a slot or a request did or did not run: the one decision record.

Every outcome — fired, skipped, deferred, missed, coalesced, retried, refused,
dead-lettered — is one :class:`Decision` pushed onto the task's capped list
``{ns}:decisions:<task>``, always by the scheduler's fenced emission script
(``schedule_emit.lua``), so the list is the whole story in the order it happened, newest
first. Each entry is a msgpack map of the decision's fields, empty ones left out
(:meth:`Decision.entry`). ``watchkeeper explain``, the API and the reports read it back
with :func:`recent`.

A list rather than a stream: a stream's first node preallocates 4 KB, so 100,000 tasks
that had fired once held 470 MB of decisions; a list of one entry takes 250–300 B.
The emission script turns a decisions stream an older version wrote into the list the
first time it appends to it, and :func:`recent` reads either.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final

import msgpack
import redis.asyncio as aioredis
import structlog
from redis.exceptions import ResponseError

from shared.contract.keys import Keys
from shared.contract.records import HashRecord, RecordError

_log = structlog.get_logger("watchkeeper.decisions")


class Outcome(StrEnum):
    """What happened to a slot or a request."""

    FIRED = "fired"
    SKIPPED = "skipped"
    DEFERRED = "deferred"
    MISSED = "missed"
    COALESCED = "coalesced"
    RETRY = "retry"
    REFUSED = "refused"
    DEAD_LETTERED = "dead_lettered"


class Cause(StrEnum):
    """Why it happened (none for a plain fire)."""

    WINDOW = "window"
    PAUSED = "paused"
    COOLDOWN = "cooldown"
    OVERLAP = "overlap"
    BUSY = "busy"
    DEPENDENCY = "dependency"
    MISFIRE = "misfire"
    CATCH_UP = "catch_up"
    DISABLED = "disabled"
    NOT_ALLOWED = "not_allowed"
    DEADLINE = "deadline"
    FAILED = "failed"
    EXECUTOR = "executor"
    INVALID = "invalid"


_VERBS: Final = {
    Outcome.FIRED: "fired",
    Outcome.SKIPPED: "was skipped",
    Outcome.DEFERRED: "was deferred",
    Outcome.MISSED: "was missed",
    Outcome.COALESCED: "was coalesced",
    Outcome.RETRY: "will be retried",
    Outcome.REFUSED: "was refused",
    Outcome.DEAD_LETTERED: "was dead-lettered",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision(HashRecord):
    """One decision, as stored in ``{ns}:decisions:<task>`` (:meth:`entry`).

    ``slot`` is the slot's epoch ms for a schedule slot, the run's slot text otherwise
    (``m<entry id>`` manual, ``e<entry id>`` emergency, …); ``at_ms`` is stamped by the
    emission script when it writes the entry (0 until then).
    """

    slot: str
    outcome: Outcome
    cause: Cause | None = None
    reason: str = ""
    run_id: str | None = None
    at_ms: int = 0

    @property
    def why(self) -> str:
        """``cause: reason`` (just the reason when there is no cause)."""
        return f"{self.cause}: {self.reason}" if self.cause else self.reason

    def wire(self) -> dict[str, str]:
        """The fields for the emission script, which adds ``at_ms`` and packs them as
        the entry: every field that has a value, as text."""
        return {name: str(value) for name, value in self.to_fields().items()
                if name != "at_ms" and value != ""}  # fmt: skip

    def entry(self) -> bytes:
        """The stored entry: :meth:`wire` with ``at_ms``, as a msgpack map."""
        return msgpack.packb(self.wire() | {"at_ms": str(self.at_ms)})

    @classmethod
    def from_entry(cls, blob: bytes) -> Decision:
        """Read a stored entry; raises :class:`RecordError` naming what is wrong."""
        try:
            fields = msgpack.unpackb(blob, raw=True)
        except (ValueError, msgpack.UnpackException) as exc:
            raise RecordError(f"Decision: not a msgpack entry ({exc})") from None
        if not isinstance(fields, dict):
            raise RecordError(f"Decision: entry is a {type(fields).__name__}, not a map")
        return cls.from_fields(fields)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"slot": self.slot, "outcome": str(self.outcome),
                "cause": None if self.cause is None else str(self.cause),
                "reason": self.reason, "run_id": self.run_id,
                "decided_at": self.at_ms / 1000}  # fmt: skip

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Decision:
        """The decision :meth:`as_dict` printed (the API's JSON read back)."""
        return cls(slot=data["slot"], outcome=Outcome(data["outcome"]),
                   cause=None if data["cause"] is None else Cause(data["cause"]),
                   reason=data["reason"], run_id=data["run_id"],
                   at_ms=round(data["decided_at"] * 1000))  # fmt: skip

    def sentence(self) -> str:
        """``2026-01-05 02:00:00.000Z  slot 2026-01-05 02:00:00.000Z was skipped — window: …``."""
        slot = _stamp(int(self.slot) / 1000) if self.slot.isdigit() else self.slot
        run = f" (run {self.run_id})" if self.run_id else ""
        return f"{_stamp(self.at_ms / 1000)}  slot {slot} {_VERBS[self.outcome]} — {self.why}{run}"


async def recent(r: aioredis.Redis, keys: Keys, task: str, count: int = 20) -> list[Decision]:
    """The ``count`` most recent decisions for ``task``, oldest first (from the list, or
    from the stream an older version wrote until the scheduler next records one). An
    entry that is not a decision (another writer's) is left out and logged, so one bad
    entry does not hide the others."""
    if count <= 0:
        return []
    key = keys.decisions(task)
    try:
        raw: Any = await r.lrange(key, 0, count - 1)
    except ResponseError as exc:
        if not str(exc).startswith("WRONGTYPE"):
            raise
        streamed: Any = await r.xrevrange(key, count=count)
        return _readable(key, Decision.from_fields, [fields for _, fields in reversed(streamed)])
    return _readable(key, Decision.from_entry, list(reversed(raw)))


def _readable(key: str, read: Callable[[Any], Decision], entries: list[Any]) -> list[Decision]:
    found = []
    for entry in entries:
        try:
            found.append(read(entry))
        except RecordError as exc:
            _log.warning("decisions.unreadable", key=key, error=str(exc))
    return found


def _stamp(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + "Z"
