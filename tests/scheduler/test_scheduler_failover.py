"""Real scheduler processes on a private Redis: failover without double or missed fires.

Twenty tasks fire every second (catch_up: all, so a slot late by a failover is fired
late rather than merged) for about 25 s, so the run covers well over 300 one-second
slots. Timeline: A leads, B stands by; A is killed with SIGKILL and B must take over
within the lease TTL; C joins; B is frozen with SIGSTOP past its lease, C takes over,
and B, resumed, must be refused by the fence when it tries to emit.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from shared.codec import decode
from shared.embedded import EmbeddedRedis
from shared.events import TaskDue
from shared.keys import Keys
from shared.redis import Redis, client

pytestmark = pytest.mark.slow

TTL_S = 2.0
TASKS = 20
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    """A private server: these processes must not share the session's."""
    srv = EmbeddedRedis(tmp_path / "redis", port=None, appendonly=False)
    srv.start()
    yield srv
    srv.stop()


def _config(path: Path) -> Path:
    spec = {"handler": "command", "params": {"argv": ["true"]}, "schedule": {"every": "1s"},
            "catch_up": "all", "overlap": "allow", "misfire_grace": "30s"}  # fmt: skip
    config = {
        "namespace": "failover",
        "scheduler": {"lease_ttl": f"{TTL_S}s"},
        "logging": {"level": "INFO", "json": True},
        "tasks": {f"t{i:02d}": spec for i in range(TASKS)},
    }
    file = path / "watchkeeper.yml"
    file.write_text(yaml.safe_dump(config))
    return file


class Replica:
    """One ``watchkeeper scheduler`` process with its log file."""

    def __init__(self, name: str, config: Path, url: str, logs: Path) -> None:
        self.log = logs / f"{name}.log"
        env = {**os.environ, "REDIS_URL": url}
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "services.cli.main", "scheduler", "-c", str(config)],
                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip

    @property
    def marker(self) -> str:
        return f"-{self.proc.pid}-"

    def signal(self, sig: signal.Signals) -> None:
        os.kill(self.proc.pid, sig)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.signal(signal.SIGCONT)
            self.signal(signal.SIGTERM)
            self.proc.wait(10)


async def _leader(r: Redis, keys: Keys) -> str:
    raw = await r.get(keys.scheduler_leader)
    return raw.decode() if raw else ""


async def _wait_leader(r: Redis, keys: Keys, replica: Replica, within_s: float) -> float:
    """Seconds until ``replica`` holds the lease (fails after ``within_s``)."""
    start = time.monotonic()
    async with asyncio.timeout(within_s):
        while replica.marker not in await _leader(r, keys):  # noqa: ASYNC110 (another process's key)
            await asyncio.sleep(0.01)
    return time.monotonic() - start


async def test_failover_never_fires_a_slot_twice_or_misses_one(
    server: EmbeddedRedis, tmp_path: Path
) -> None:
    config, keys = _config(tmp_path), Keys("failover")
    r = client(server.url)
    a = Replica("a", config, server.url, tmp_path)
    replicas = [a]
    try:
        await _wait_leader(r, keys, a, 15)
        b = Replica("b", config, server.url, tmp_path)
        replicas.append(b)
        await asyncio.sleep(6)
        a.signal(signal.SIGKILL)
        takeover = await _wait_leader(r, keys, b, TTL_S + 1)
        c = Replica("c", config, server.url, tmp_path)
        replicas.append(c)
        await asyncio.sleep(6)
        b.signal(signal.SIGSTOP)
        await _wait_leader(r, keys, c, TTL_S + 1)
        await asyncio.sleep(1.0)
        b.signal(signal.SIGCONT)
        await asyncio.sleep(5)
        ended = time.time()
    finally:
        for replica in replicas:
            replica.stop()
    fires = [decode(f) for _, f in await r.xrange(keys.due("normal"))]
    await r.aclose()
    assert takeover <= TTL_S, f"standby took {takeover:.2f} s to take over"
    _assert_exactly_once(fires, ended)
    assert '"scheduler.fenced_out"' in b.log.read_text(), "B emitted nothing after SIGCONT?"


def _assert_exactly_once(fires: list[object], ended: float) -> None:
    slots: dict[str, list[float]] = defaultdict(list)
    run_ids = [f.run_id for f in fires if isinstance(f, TaskDue)]
    assert len(run_ids) == len(set(run_ids)), "a slot fired twice"
    for f in fires:
        assert isinstance(f, TaskDue)
        slots[f.task].append(f.scheduled_for)
    assert len(slots) == TASKS and sum(map(len, slots.values())) >= 300
    for task, times in slots.items():
        times.sort()
        expected = [times[0] + i for i in range(len(times))]
        assert times == expected, f"{task} missed a slot"
        assert times[-1] >= ended - 2, f"{task} stopped firing"
