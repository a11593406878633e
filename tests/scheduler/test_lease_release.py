"""A clean shutdown gives the leader lease up: said at info, not as a lost lease."""

from __future__ import annotations

from structlog.testing import capture_logs

from services.scheduler.lease import Lease
from shared.contract.keys import Keys
from shared.runtime.clock import SystemClock
from shared.runtime.redis import Redis


async def test_a_released_lease_is_free_at_once_and_logged_as_released(
    r: Redis, keys: Keys
) -> None:
    lease = Lease(r, keys, "a", ttl_s=10, clock=SystemClock())
    assert await lease.acquire()
    with capture_logs() as logs:
        await lease.release()
    assert lease.token is None
    assert await r.get(keys.scheduler_leader) is None  # a standby takes over at once
    events = [(e["event"], e["log_level"]) for e in logs]
    assert events == [("scheduler.leader_released", "info")]
    other = Lease(r, keys, "b", ttl_s=10, clock=SystemClock())
    assert await other.acquire()
    with capture_logs() as logs:
        lease.lost("fenced out")  # holds no token: nothing to say
        other.lost("renewal refused")
    assert [(e["event"], e["log_level"], e["why"]) for e in logs] == [
        ("scheduler.leader_lost", "warning", "renewal refused")
    ]
