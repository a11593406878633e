"""A fleet of real service processes for the chaos tests: start, stop, kill -9, freeze.

Every service is its own ``watchkeeper <service>`` process (as an operator runs them),
named ``<service>-<n>``, logging JSON to ``<dir>/<name>.log``. Waits are async and
bounded: the fault proxy shares the test's event loop.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import yaml

from tests.support.processes import cli_env, spawn

NS: Final = "chaos"
PLUGIN: Final = "tests.chaos.chaos_handlers"


def fleet_config(tmp: Path, oplog: Path, **executor: Any) -> dict[str, Any]:
    """Namespace ``chaos``: ``effect`` (triggered) and ``tick`` (every second), both the
    logging ``t_effect`` handler, no overlap cap; fast leases and visibility."""
    effect = {"handler": "t_effect", "params": {"log": str(oplog)}, "overlap": "allow",
              "max_instances": 1_000_000,
              "timeout": "30s"}  # fmt: skip
    settings = {
        "max_concurrent": 8, "visibility_timeout": "4s", "heartbeat_interval": "0.5s",
        "grace_period": "3s", "max_deliveries": 50, "allowed_roots": [str(tmp)],
        "rollback_dir": str(tmp / "rollbacks"), "artifacts_dir": str(tmp / "artifacts"),
        "plugins": [PLUGIN], **executor,
    }  # fmt: skip
    return {
        "namespace": NS,
        "logging": {"level": "INFO", "json": True},
        "scheduler": {"lease_ttl": "2s"},
        "executor": settings,
        "tasks": {
            "effect": effect,
            "tick": {**effect, "schedule": {"every": "1s"}, "catch_up": "all"},
        },
    }


class Fleet:
    """Service processes on one Redis URL; ``procs`` by name."""

    def __init__(self, tmp: Path, redis_url: str, config: dict[str, Any]) -> None:
        self.dir = tmp
        self.config = tmp / "wk.yml"
        self.config.write_text(yaml.safe_dump(config))
        self.env = cli_env(redis_url, WATCHKEEPER_DATA_DIR=str(tmp / "data"))
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self._offsets: dict[str, int] = {}

    def start(self, name: str) -> subprocess.Popen[bytes]:
        """Start (or restart) ``name``: its service is the part before the dash."""
        log = self.dir / f"{name}.log"
        self._offsets[name] = log.stat().st_size if log.exists() else 0
        with log.open("ab") as out:
            proc = spawn(name.partition("-")[0], self.config, env=self.env, cwd=self.dir,
                         stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
        self.procs[name] = proc
        return proc

    def logged(self, name: str, event: str) -> bool:
        """Whether ``name``'s current process has logged ``event``."""
        with (self.dir / f"{name}.log").open("rb") as log:
            log.seek(self._offsets[name])
            return f'"{event}"'.encode() in log.read()

    def pid(self, name: str) -> int:
        """The pid of ``name``'s current process."""
        return self.procs[name].pid

    async def stop(self, name: str, timeout_s: float = 20) -> int:
        """SIGTERM ``name`` and wait for it to exit; returns its exit code."""
        proc = self.procs[name]
        proc.send_signal(signal.SIGCONT)
        proc.send_signal(signal.SIGTERM)
        return await exited(proc, timeout_s)

    async def kill(self, name: str) -> int:
        """SIGKILL ``name`` (reaped at once); returns the pid it had."""
        proc = self.procs[name]
        proc.kill()
        await exited(proc, 10)
        return proc.pid

    def freeze(self, name: str) -> int:
        """SIGSTOP ``name``; returns its pid."""
        self.procs[name].send_signal(signal.SIGSTOP)
        return self.pid(name)

    def thaw(self, name: str) -> None:
        """SIGCONT ``name``."""
        self.procs[name].send_signal(signal.SIGCONT)

    def dead(self) -> list[str]:
        """Names whose process exited."""
        return [name for name, proc in self.procs.items() if proc.poll() is not None]

    def close(self) -> None:
        """Kill whatever still runs (cleanup)."""
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGCONT)
                proc.kill()
            proc.wait(10)

    def events(self, prefix: str, *names: str) -> Iterator[dict[str, Any]]:
        """Every JSON log line of processes whose name starts with ``prefix`` whose
        event is one of ``names``."""
        for log in sorted(self.dir.glob(f"{prefix}*.log")):
            for line in log.read_text(errors="replace").splitlines():
                if line.startswith("{"):
                    try:
                        found = json.loads(line)
                    except ValueError:
                        continue
                    if found.get("event") in names:
                        yield found


async def exited(proc: subprocess.Popen[bytes], timeout_s: float) -> int:
    """Wait (bounded, without blocking the loop) for ``proc`` to exit; its exit code."""
    async with asyncio.timeout(timeout_s):
        while (code := proc.poll()) is None:  # noqa: ASYNC110 (a child process, no event)
            await asyncio.sleep(0.05)
    return code
