"""Why a slot or a request did or did not run: the one decision record.

Every outcome — fired, skipped, deferred, missed, coalesced, retried, refused,
dead-lettered — is one :class:`Decision` appended to the task's capped stream
``{ns}:decisions:<task>``, always by the scheduler's fenced emission script
(``schedule_emit.lua``), so the stream is the whole story in the order it happened.
``watchkeeper explain``, the API and the reports read it back with :func:`recent`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final

import redis.asyncio as aioredis

from shared.contract.keys import Keys
from shared.contract.records import FieldValue, HashRecord


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
    """One decision, as stored in ``{ns}:decisions:<task>`` (stream entry fields).

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

    def wire(self) -> list[FieldValue]:
        """Field/value pairs for the emission script, which adds ``at_ms``."""
        return [x for kv in self.to_fields().items() if kv[0] != "at_ms" for x in kv]

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
    """The ``count`` most recent decisions for ``task``, oldest first."""
    raw: Any = await r.xrevrange(keys.decisions(task), count=count)
    return [Decision.from_fields(fields) for _, fields in reversed(raw)]


def _stamp(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + "Z"
