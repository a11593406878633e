"""Atomic, idempotent, fenced emission of ``task.due`` (one Lua call per occurrence)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from shared.codec import encode
from shared.events import TaskDue
from shared.keys import Keys
from shared.redis import Entry, Redis
from shared.scripts import script

FIRED_TTL_MS: Final = 7 * 86_400_000
"""How long an occurrence's fired marker lives: longer than any catch-up horizon."""


class FencedOut(RuntimeError):
    """This scheduler's leader epoch is stale: another replica leads now."""


@dataclass
class Emitter:
    """Emits due events; ``epoch`` is the fencing token ('' when not leader-fenced)."""

    r: Redis
    keys: Keys
    epoch: str = ""

    async def emit(self, due: TaskDue, *, ack: tuple[Entry, str] | None = None) -> bool:
        """XADD ``due`` unless its occurrence already fired; ack ``ack`` in the same call.

        Returns True when emitted, False for a duplicate; raises FencedOut when stale.
        """
        fields = encode(due)
        source, group, entry_id = (ack[0].stream, ack[1], ack[0].entry_id) if ack else ("", "", "")
        stream = self.keys.due(due.priority)
        result = await script(self.r, "emit")(
            keys=[
                self.keys.fired(due.task, _slot(due.run_id)),
                stream,
                self.keys.scheduler_epoch,
                source or stream,
            ],
            args=[self.epoch, FIRED_TTL_MS, fields["type"], fields["v"], fields["body"],
                  group, entry_id],
        )  # fmt: skip
        if result == -1:
            raise FencedOut(f"epoch {self.epoch} is no longer the leader's")
        return bool(result == 1)


def _slot(run_id: str) -> str:
    return run_id.rsplit(":", 1)[-1]
