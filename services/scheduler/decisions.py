"""Reading ``{ns}:decisions:<task>`` back: why each slot fired or did not, in words."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from shared.contract.keys import Keys
from shared.runtime.redis import Redis, text

_VERBS = {
    "fired": "fired",
    "skipped": "was skipped",
    "missed": "was missed",
    "coalesced": "was coalesced",
    "deferred": "was deferred",
    "retry": "will be retried",
}


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    """One recorded decision: the slot, what happened, why, and when it was decided."""

    slot: str
    outcome: str
    reason: str
    run_id: str
    decided_at: float

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"slot": self.slot, "outcome": self.outcome, "reason": self.reason,
                "run_id": self.run_id or None, "decided_at": self.decided_at}  # fmt: skip

    def sentence(self) -> str:
        """``2026-01-05 02:00:00Z  slot 02:00:00 was skipped — window: outside …``."""
        when = _stamp(self.decided_at)
        slot = _stamp(int(self.slot) / 1000) if self.slot.isdigit() else self.slot
        verb = _VERBS.get(self.outcome, self.outcome)
        return f"{when}  slot {slot} {verb} — {self.reason}"


async def recent(r: Redis, keys: Keys, task: str, count: int = 20) -> list[DecisionRecord]:
    """The ``count`` most recent decisions for ``task``, oldest first."""
    raw: Any = await r.xrevrange(keys.decisions(task), count=count)
    return [_record(fields) for _, fields in reversed(raw)]


def _record(fields: dict[bytes, bytes]) -> DecisionRecord:
    def get(name: str) -> str:
        value = fields.get(name.encode())
        return text(value) if value is not None else ""

    return DecisionRecord(get("slot"), get("outcome"), get("reason"), get("run_id"),
                          float(get("at") or 0) / 1000)  # fmt: skip


def _stamp(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + "Z"
