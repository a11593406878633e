"""The scheduler leader lease: one replica leads, the others wait as hot standbys.

The leader holds ``{ns}:scheduler:leader`` (SET NX PX) with a token ``<epoch>:<name>``;
the epoch is incremented on every acquisition. Every emission script compares the
stored token with the caller's, so a leader that stalled past its lease (GC pause,
SIGSTOP, network partition) is refused by Redis itself, whatever it believes locally.
Each replica remembers the highest epoch it has seen (its own tokens and the holders'),
so epochs keep increasing even after Redis lost its data and the counter with it.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.contract.keys import Keys
from shared.contract.scripts import script
from shared.runtime.clock import Clock
from shared.runtime.logging import get_logger
from shared.runtime.redis import Redis, text

log = get_logger("watchkeeper.scheduler.lease")


@dataclass
class Lease:
    """Acquire, renew and release the leader lease; ``token`` is None when not leading.

    Local expiry is tracked with the monotonic clock only to step down early; the
    fence in Redis is what makes a stale leader harmless.
    """

    r: Redis
    keys: Keys
    name: str
    ttl_s: float
    clock: Clock
    token: str | None = None
    epoch_seen: int = 0
    """The highest fencing epoch this replica has held or seen a holder use."""
    _renewed_at: float = 0.0

    @property
    def ttl_ms(self) -> int:
        """Lease length in milliseconds."""
        return max(1, int(self.ttl_s * 1000))

    @property
    def leading(self) -> bool:
        """True while this replica holds a lease that has not run out locally."""
        return self.token is not None and self.clock.monotonic() - self._renewed_at < self.ttl_s

    async def acquire(self) -> bool:
        """Take the lease if it is free; True when this replica now leads."""
        started = self.clock.monotonic()
        raw = await script(self.r, "lease_acquire")(
            keys=[self.keys.scheduler_leader, self.keys.scheduler_epoch],
            args=[self.name, self.ttl_ms, self.epoch_seen],
        )
        if raw is None:
            return False
        self.token, self._renewed_at = text(raw), started
        self._see(self.token)
        log.info("scheduler.leader_acquired", name=self.name, token=self.token)
        return True

    async def renew(self) -> bool:
        """Extend the lease; on refusal step down (token cleared) and return False."""
        if self.token is None:
            return False
        started = self.clock.monotonic()
        kept = await script(self.r, "lease_renew")(
            keys=[self.keys.scheduler_leader], args=[self.token, self.ttl_ms]
        )
        if kept == 1:
            self._renewed_at = started
            return True
        self.lost("renewal refused")
        return False

    async def keep(self) -> bool:
        """Renew if a third of the lease has passed since the last renewal (a long piece
        of work, such as loading 100,000 definitions, calls this as it goes); False when
        not leading any more (a refused renewal clears the token)."""
        if self.token is None:
            return False
        if self.clock.monotonic() - self._renewed_at < self.ttl_s / 3:
            return True
        return await self.renew()

    async def release(self) -> None:
        """Give the lease up (clean shutdown) so a standby takes over at once."""
        if self.token is not None:
            await script(self.r, "lease_renew")(
                keys=[self.keys.scheduler_leader], args=[self.token, 0]
            )
            log.info("scheduler.leader_released", name=self.name, token=self.token)
            self.token = None

    def lost(self, why: str) -> None:
        """Forget the token (fenced out or expired)."""
        if self.token is not None:
            log.warning("scheduler.leader_lost", name=self.name, token=self.token, why=why)
        self.token = None

    async def holder_ttl_s(self) -> float:
        """Seconds until the current holder's lease runs out (0 when free); notes the
        holder's epoch on the way."""
        async with self.r.pipeline(transaction=False) as pipe:
            pipe.get(self.keys.scheduler_leader)
            pipe.pttl(self.keys.scheduler_leader)
            holder, ms = await pipe.execute()
        if holder is not None:
            self._see(text(holder))
        return max(0.0, ms / 1000) if ms and ms > 0 else 0.0

    def _see(self, token: str) -> None:
        epoch = token.partition(":")[0]
        if epoch.isdecimal():
            self.epoch_seen = max(self.epoch_seen, int(epoch))
