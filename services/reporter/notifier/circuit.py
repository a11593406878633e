"""Per-channel circuit breaker (pure, monotonic time given by the caller).

After ``failures_to_open`` failures in a row a channel's circuit opens: its deliveries
wait in the outbox (no attempt is spent) for ``open_s``; then one delivery is tried
(half open): a success closes the circuit, a failure opens it again. One dead endpoint
thus costs one attempt per ``open_s``, and never holds up the other channels.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Circuit:
    """The state of one channel's circuit."""

    failures_to_open: int
    open_s: float
    failures: int = 0
    open_until: float = 0.0

    def capacity(self, now: float, batch: int) -> int:
        """How many deliveries may be tried now: ``batch`` closed, 1 half open, 0 open."""
        if self.failures < self.failures_to_open:
            return batch
        return 1 if now >= self.open_until else 0

    def record(self, ok: bool, now: float) -> None:
        """Count one attempt's outcome."""
        if ok:
            self.failures = 0
            return
        self.failures += 1
        if self.failures >= self.failures_to_open:
            self.open_until = now + self.open_s

    @property
    def is_open(self) -> bool:
        """Whether the failures reached the threshold (open or half open)."""
        return self.failures >= self.failures_to_open
