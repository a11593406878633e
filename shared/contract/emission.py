"""The emission script's replies (``schedule_emit.lua``): one :class:`EmitCode` per item.

The words for each code live here only: the scheduler sends :func:`code_table` with
every call and the script records its decisions with them, and the scheduler's intake
quotes the same words when it refuses a request.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any, Final

from shared.contract.decisions import Cause, Outcome

FENCED: Final = -1
"""The whole reply when the caller's leader token no longer leads (nothing written)."""


class EmitCode(IntEnum):
    """What the script did with one item."""

    DUPLICATE = 0
    """The occurrence fired before (its marker exists); nothing new is written."""
    EMITTED = 1
    """``task.due`` added, run lease taken, decision ``fired`` recorded."""
    SKIPPED_OVERLAP = 2
    """``max_instances`` runs are going and ``overlap: skip``: the slot is dropped."""
    DEFERRED_OVERLAP = 3
    """``max_instances`` runs are going and ``overlap: queue``: the slot waits."""
    DEFERRED_WINDOW = 4
    """The window's ``max_concurrent`` runs are going: the slot waits."""

    @property
    def busy(self) -> bool:
        """The item could not start because capacity was taken."""
        return self not in (EmitCode.DUPLICATE, EmitCode.EMITTED)

    @property
    def outcome(self) -> Outcome | None:
        """The decision the script records for a scheduled slot (None: no decision)."""
        return _WORDS[self][0]

    @property
    def cause(self) -> Cause | None:
        """Why, as a :class:`Cause` (None for a plain fire)."""
        return _WORDS[self][1]

    @property
    def reason(self) -> str:
        """In words, for people (``explain``, refusals)."""
        return _WORDS[self][2]


_WORDS: Final[dict[EmitCode, tuple[Outcome | None, Cause | None, str]]] = {
    EmitCode.DUPLICATE: (None, None, "already emitted"),
    EmitCode.EMITTED: (Outcome.FIRED, None, "emitted"),
    EmitCode.SKIPPED_OVERLAP: (Outcome.SKIPPED, Cause.OVERLAP,
                               "max_instances reached: another instance is running"),
    EmitCode.DEFERRED_OVERLAP: (Outcome.DEFERRED, Cause.OVERLAP,
                                "max_instances reached: queued behind the running instance"),
    EmitCode.DEFERRED_WINDOW: (Outcome.DEFERRED, Cause.BUSY,
                               "window full: max_concurrent runs in the window"),
}  # fmt: skip


def code_table() -> dict[int, dict[str, Any]]:
    """Code → decision fields (``outcome``, ``cause``, ``reason``) for the script; codes
    that record no decision are left out."""
    return {
        int(code): {"outcome": str(code.outcome), "cause": str(code.cause or ""),
                    "reason": code.reason}
        for code in EmitCode
        if code.outcome is not None
    }  # fmt: skip
