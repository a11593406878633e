"""Running the real ``watchkeeper`` command in tests, the way an operator would."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parents[2]
WATCHKEEPER = (sys.executable, "-m", "services.cli.main")
"""argv prefix of the CLI, independent of where the console script was installed."""


def cli_env(redis_url: str | None = None, **extra: str) -> dict[str, str]:
    """This environment plus the repo on PYTHONPATH and, when given, REDIS_URL."""
    env = os.environ | {"PYTHONPATH": str(ROOT)} | extra
    if redis_url is not None:
        env["REDIS_URL"] = redis_url
    return env


def spawn(
    service: str, config: Path, *, env: dict[str, str], cwd: Path = ROOT,
    stdout: int | IO[Any] = subprocess.DEVNULL, stderr: int | IO[Any] = subprocess.DEVNULL,
) -> subprocess.Popen[bytes]:  # fmt: skip
    """Start ``watchkeeper <service> -c config`` as its own process."""
    return subprocess.Popen(
        [*WATCHKEEPER, service, "-c", str(config)], env=env, cwd=cwd, stdout=stdout, stderr=stderr
    )


def kill_all(procs: Iterable[subprocess.Popen[bytes]]) -> None:
    """SIGKILL whatever is still running and reap everything."""
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


async def run_cli(*args: str, env: dict[str, str], timeout_s: float = 40) -> tuple[int, str]:
    """Run one CLI command to completion; returns (exit code, stdout+stderr)."""
    proc = await asyncio.create_subprocess_exec(
        *WATCHKEEPER, *args, cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    async with asyncio.timeout(timeout_s):
        out, _ = await proc.communicate()
    return int(proc.returncode or 0), out.decode()
