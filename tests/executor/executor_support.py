"""Helpers for executor tests: due entries, results, and real executor processes."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import yaml

from services.executor.service import Executor
from shared.config.models import Config
from shared.contract.codec import decode, encode
from shared.contract.events import TaskDue, TaskResult
from shared.contract.keys import EXECUTORS_GROUP, Keys
from shared.runtime.redis import Redis
from tests.support.processes import cli_env, spawn

PLUGIN = "tests.executor.wk_handlers"


def make_due(handler: str = "t_sleep", **kw: Any) -> TaskDue:
    """A TaskDue with a fresh run_id and test-friendly defaults."""
    fields: dict[str, Any] = {
        "run_id": f"run-{uuid.uuid4().hex[:10]}", "task": kw.pop("task", handler),
        "handler": handler, "params": {}, "trigger": "manual", "scheduled_for": 0.0,
        "emitted_at": 0.0, "attempt": 1, "max_attempts": 1, "timeout_s": 30.0,
        "priority": "normal",
    }  # fmt: skip
    fields.update(kw)
    return TaskDue(**fields)


async def publish_due(r: Redis, keys: Keys, due: TaskDue) -> str:
    """XADD ``due`` to its priority's stream; returns the entry id."""
    entry_id = await r.xadd(keys.due(due.priority), encode(due))  # type: ignore[arg-type]
    return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)


async def results(r: Redis, keys: Keys) -> list[TaskResult]:
    """Every result published so far, oldest first."""
    out: list[TaskResult] = []
    for _, fields in await r.xrange(keys.results):
        event = decode(fields)
        assert isinstance(event, TaskResult)
        out.append(event)
    return out


async def wait_for(
    check: Callable[[], Any], timeout_s: float, what: str, every_s: float = 0.05
) -> Any:
    """Poll the async ``check`` until it returns something truthy (bounded)."""
    try:
        async with asyncio.timeout(timeout_s):
            # Polling: Redis state and child processes have no event to await here.
            while not (value := await check()):  # noqa: ASYNC110
                await asyncio.sleep(every_s)
            return value
    except TimeoutError:
        raise AssertionError(f"timed out after {timeout_s} s waiting for {what}") from None


async def wait_results(
    r: Redis, keys: Keys, count: int, timeout_s: float = 10.0
) -> list[TaskResult]:
    """Wait until at least ``count`` results exist; returns them all."""

    async def enough() -> list[TaskResult] | None:
        found = await results(r, keys)
        return found if len(found) >= count else None

    found: list[TaskResult] = await wait_for(enough, timeout_s, f"{count} results")
    return found


async def pending_count(r: Redis, keys: Keys) -> int:
    """Entries delivered to the executors group and not yet acked, over all priorities."""
    total = 0
    for stream in keys.due_streams:
        if await r.exists(stream):
            info: Any = await r.xpending(stream, EXECUTORS_GROUP)
            total += int(info["pending"])
    return total


def executor_settings(tmp: Path, **overrides: Any) -> dict[str, Any]:
    """Fast executor settings for tests (short visibility timeout and heartbeats)."""
    settings: dict[str, Any] = {
        "max_concurrent": 4, "visibility_timeout": 1.0, "heartbeat_interval": 0.2,
        "grace_period": 2.0, "max_deliveries": 3, "allowed_roots": [str(tmp)],
        "rollback_dir": str(tmp / "rollbacks"), "artifacts_dir": str(tmp / "artifacts"),
        "plugins": [PLUGIN],
    }  # fmt: skip
    settings.update(overrides)
    return settings


def make_config(keys: Keys, tmp: Path, **overrides: Any) -> Config:
    """An in-process Config for ``keys``' namespace."""
    return Config(namespace=keys.ns, executor=executor_settings(tmp, **overrides))  # type: ignore[arg-type]


class ExecutorProcess:
    """A real ``watchkeeper executor`` process on a test's Redis, logging to a file."""

    def __init__(self, redis_url: str, keys: Keys, tmp: Path, name: str, **settings: Any) -> None:
        self.dir = tmp / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.config = self.dir / "watchkeeper.yml"
        body = {"namespace": keys.ns, "logging": {"json": True},
                "executor": executor_settings(tmp, **settings)}  # fmt: skip
        self.config.write_text(yaml.safe_dump(body))
        self.log = self.dir / "executor.log"
        with self.log.open("ab") as out:
            self.proc = spawn("executor", self.config, env=cli_env(redis_url), stdout=out,
                              stderr=subprocess.STDOUT)  # fmt: skip

    def signal(self, sig: signal.Signals) -> None:
        """Send ``sig`` to the process."""
        self.proc.send_signal(sig)

    async def wait_exit(self, timeout_s: float) -> int:
        """Wait (bounded) for the process to exit; returns its exit code."""
        async with asyncio.timeout(timeout_s):
            while (code := self.proc.poll()) is None:  # noqa: ASYNC110  (a child, no event)
                await asyncio.sleep(0.05)
        return code

    def text(self) -> str:
        """Everything the process logged so far."""
        return self.log.read_text(errors="replace")

    async def wait_logged(self, event: str, timeout_s: float) -> None:
        """Wait until the process logged ``event``."""

        async def seen() -> bool:
            return f'"{event}"' in self.text()

        await wait_for(seen, timeout_s, f"{event} in {self.log}")

    def stop(self) -> None:
        """Kill the process if it is still running (cleanup)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
            self.proc.wait(timeout=10)


@asynccontextmanager
async def serving(executor: Executor) -> AsyncIterator[asyncio.Task[None]]:
    """``executor`` serving until the block ends (then stopped, within 10 s); yields its task."""
    stop = asyncio.Event()
    task = asyncio.create_task(executor.run(stop))
    try:
        yield task
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


@asynccontextmanager
async def serving_executor(r: Redis, keys: Keys, tmp: Path) -> AsyncIterator[Executor]:
    """A real executor (in-process) serving ``keys``' namespace until the block ends."""
    executor = Executor(r, make_config(keys, tmp))
    async with serving(executor):
        yield executor


async def started(r: Redis, keys: Keys, run_id: str) -> None:
    """Wait until the run's handler reported progress (it is running)."""

    async def running() -> int:
        return int(await r.exists(keys.run_progress(run_id)))

    await wait_for(running, 10, f"run {run_id} to start")
