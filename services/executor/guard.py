"""Resource guard: defer low and normal runs while the host is busy.

When CPU or memory use is above its configured threshold the executor reads only the
critical and high due streams; low and normal entries stay queued (unread, so another
executor on a quieter host may take them). Critical runs are never deferred.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import psutil

from shared.contract.vocabulary import PRIORITIES
from shared.runtime.logging import get_logger

log = get_logger("watchkeeper.executor")
DEFERRABLE: Final = frozenset({"normal", "low"})


def allowed_priorities(
    cpu: float, memory: float, cpu_above: float | None, memory_above: float | None
) -> tuple[str, ...]:
    """Priorities to read given usage in percent and thresholds (None = no limit)."""
    busy = (cpu_above is not None and cpu > cpu_above) or (
        memory_above is not None and memory > memory_above
    )
    return tuple(p for p in PRIORITIES if not (busy and p in DEFERRABLE))


@dataclass
class ResourceGuard:
    """Samples the host with psutil and says which priorities may start now."""

    cpu_above: float | None = None
    memory_above: float | None = None
    _deferring: bool = False

    def __post_init__(self) -> None:
        # The first cpu_percent(None) call only sets the baseline for the next one.
        psutil.cpu_percent(interval=None)

    def priorities(self) -> tuple[str, ...]:
        """Priorities allowed now; logs when deferral starts and stops."""
        if self.cpu_above is None and self.memory_above is None:
            return PRIORITIES
        cpu = psutil.cpu_percent(interval=None)
        memory = psutil.virtual_memory().percent
        allowed = allowed_priorities(cpu, memory, self.cpu_above, self.memory_above)
        deferring = len(allowed) < len(PRIORITIES)
        if deferring != self._deferring:
            self._deferring = deferring
            event = "executor.deferring_low_priority" if deferring else "executor.resumed_all"
            log.info(event, cpu_percent=cpu, memory_percent=memory)
        return allowed
