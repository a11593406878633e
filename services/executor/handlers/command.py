"""``command``: run one program as an argv list (never a shell) in its own process group.

The child sees only the allowed part of the parent's environment plus ``env``; its
output is captured up to ``max_output_bytes`` per stream (the tail is kept) and
redacted. On timeout or cancellation the whole process group is stopped: SIGTERM, a
grace period, then SIGKILL. Group members still alive after a normal exit (daemonised
leftovers) are stopped the same way, so a run never leaves processes behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import psutil
from pydantic import BaseModel, ConfigDict, Field, field_validator

from services.executor.handlers.base import HandlerError, Outcome, ParamsError, RunContext
from services.executor.handlers.registry import handler
from services.executor.safety import resolve_confined
from shared.runtime.logging import SECRET_KEY_RE, redact, redact_text

DEFAULT_ENV_ALLOW: Final = ("PATH", "HOME", "LANG", "LC_ALL", "TZ")
KILL_GRACE_S: Final = 2.0
STDERR_TAIL_CHARS: Final = 500
_POLL_S: Final = 0.05


class CommandParams(BaseModel):
    """What to run and how; ``cwd`` must lie inside the executor's ``allowed_roots``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    argv: list[str] = Field(min_length=1)
    cwd: str | None = None
    env: dict[str, str] = Field(default_factory=dict)
    env_allow: list[str] = Field(default_factory=lambda: list(DEFAULT_ENV_ALLOW))
    timeout_s: float = Field(300.0, gt=0)
    max_output_bytes: int = Field(64 * 1024, ge=1)
    ok_exit_codes: list[int] = Field(default_factory=lambda: [0])

    @field_validator("argv", mode="before")
    @classmethod
    def _not_a_shell_string(cls, value: Any) -> Any:
        # Raised as ParamsError, not ValueError, so pydantic lets it through unchanged and
        # the task author reads this exact sentence instead of a generic type error.
        if isinstance(value, str):
            raise ParamsError("params.argv must be a list of arguments, not a shell string")
        return value

    @field_validator("argv")
    @classmethod
    def _program_named(cls, value: list[str]) -> list[str]:
        if not value[0]:
            raise ValueError("the program (argv[0]) must not be empty")
        return value


@dataclass
class _Tail:
    """The last ``limit`` bytes of a stream, and how many bytes there were in all."""

    limit: int
    data: bytearray = field(default_factory=bytearray)
    total: int = 0

    async def drain(self, stream: asyncio.StreamReader | None) -> None:
        while stream is not None and (chunk := await stream.read(65536)):
            self.total += len(chunk)
            self.data += chunk
            if len(self.data) > self.limit:
                del self.data[: len(self.data) - self.limit]

    @property
    def truncated(self) -> bool:
        return self.total > len(self.data)

    def text(self, secrets: list[str]) -> str:
        body = redact_text(self.data.decode(errors="replace"), secrets)
        if self.truncated:
            return f"[... {self.total - len(self.data)} bytes truncated ...]\n{body}"
        return body


def _child_env(params: CommandParams, parent: dict[str, str]) -> dict[str, str]:
    inherited = {name: parent[name] for name in params.env_allow if name in parent}
    return inherited | params.env


def _secret_values(params: CommandParams) -> list[str]:
    return [v for k, v in params.env.items() if SECRET_KEY_RE.search(k)]


def _group_alive(pgid: int) -> bool:
    """True while a non-zombie process is in the group.

    Zombies are skipped: they are dead already, and orphans of the group may stay zombies
    for as long as their new parent (often PID 1 in a container) does not reap them.
    """
    try:
        os.killpg(pgid, 0)  # cheap probe first: no member at all
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return any(_live_member(pid, pgid) for pid in psutil.pids())


def _live_member(pid: int, pgid: int) -> bool:
    try:
        return os.getpgid(pid) == pgid and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except (ProcessLookupError, psutil.NoSuchProcess):
        return False


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):  # the group is already gone
        os.killpg(pgid, sig)


async def _wait_group_gone(proc: asyncio.subprocess.Process, grace_s: float) -> None:
    # Real time on purpose: the child lives on the OS clock, not on an injected fake one.
    # Polling because the OS has no notification for "the last member of a group exited".
    async with asyncio.timeout(grace_s):
        await proc.wait()
        while _group_alive(proc.pid):  # noqa: ASYNC110
            await asyncio.sleep(_POLL_S)


async def _stop_group(proc: asyncio.subprocess.Process, readers: list[asyncio.Task[None]]) -> None:
    """SIGTERM the group, wait ``KILL_GRACE_S``, SIGKILL what is left; reap and close."""
    pgid = proc.pid  # start_new_session: the child leads a group with its own pid
    try:
        if _group_alive(pgid):
            _signal_group(pgid, signal.SIGTERM)
            with contextlib.suppress(TimeoutError):  # escalated to SIGKILL below
                await _wait_group_gone(proc, KILL_GRACE_S)
    finally:
        # Synchronous, so it happens even if the grace wait above is cancelled.
        if _group_alive(pgid):
            _signal_group(pgid, signal.SIGKILL)
        for task in readers:
            task.cancel()
    await asyncio.gather(*readers, return_exceptions=True)
    await proc.wait()
    # SIGKILL is delivered asynchronously: on a busy machine the members can outlive the
    # call by a few milliseconds. The run is over only when they are gone.
    with contextlib.suppress(TimeoutError):
        await _wait_group_gone(proc, KILL_GRACE_S)


async def _start(
    argv: list[str], cwd: Path | None, env: dict[str, str]
) -> asyncio.subprocess.Process:
    try:
        return await asyncio.create_subprocess_exec(
            *argv,
            cwd=cwd,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as exc:
        raise HandlerError(f"cannot start {argv[0]!r}: {exc.strerror or exc}") from exc


async def _execute(params: CommandParams, cwd: Path | None, out: _Tail, err: _Tail) -> int:
    """Run to completion under ``timeout_s``; returns the exit code (negative: signal)."""
    proc = await _start(params.argv, cwd, _child_env(params, dict(os.environ)))
    readers = [
        asyncio.create_task(out.drain(proc.stdout)),
        asyncio.create_task(err.drain(proc.stderr)),
    ]
    try:
        async with asyncio.timeout(params.timeout_s):
            await asyncio.gather(*readers)
            code: int = await proc.wait()
    except TimeoutError:
        raise TimeoutError(
            f"command timed out after {params.timeout_s:g} s; its process group was killed"
        ) from None
    finally:
        await _stop_group(proc, readers)
    return code


def _details(
    params: CommandParams,
    cwd: Path | None,
    code: int,
    streams: tuple[_Tail, _Tail],
    secrets: list[str],
) -> dict[str, Any]:
    out, err = streams
    return {
        "argv": redact(params.argv, secrets),
        "cwd": str(cwd) if cwd else None,
        "exit_code": code,
        "stdout": out.text(secrets),
        "stderr": err.text(secrets),
        "stdout_truncated": out.truncated,
        "stderr_truncated": err.truncated,
    }


def confined_path(ctx: RunContext, path: str | None) -> Path | None:
    """``path`` confined to the allowed roots (a relative one from the first root)."""
    if path is None:
        return None
    base = Path(ctx.allowed_roots[0]) if ctx.allowed_roots else None
    return resolve_confined(path, ctx.allowed_roots, base)


@dataclass(frozen=True, slots=True)
class Completed:
    """A finished process: exit code, redacted details (argv, output tails) and byte counts."""

    code: int
    details: dict[str, Any]
    stdout_bytes: int
    stderr_bytes: int


async def run_command(params: CommandParams, cwd: Path | None) -> Completed:
    """Run ``params.argv`` to completion (process group, timeout, capture, redaction).

    Any exit code is returned, not judged: callers decide what counts as success. A
    timeout raises ``TimeoutError`` after the whole group is stopped.
    """
    out, err = _Tail(params.max_output_bytes), _Tail(params.max_output_bytes)
    code = await _execute(params, cwd, out, err)
    details = _details(params, cwd, code, (out, err), _secret_values(params))
    return Completed(code, details, out.total, err.total)


@handler("command", params=CommandParams)
async def command(ctx: RunContext, params: CommandParams) -> Outcome:
    """Run ``argv``; exit codes outside ``ok_exit_codes`` raise :class:`HandlerError`.

    A timeout raises ``TimeoutError`` (status ``timed_out``). A relative ``cwd`` is taken
    relative to the first allowed root. In a dry run nothing is started.
    """
    cwd = confined_path(ctx, params.cwd)
    if ctx.dry_run:
        shown = redact(params.argv, _secret_values(params))
        return Outcome(message=f"dry run: would run {shown}", details={"argv": shown})
    started = ctx.clock.monotonic()
    done = await run_command(params, cwd)
    if done.code not in params.ok_exit_codes:
        tail = done.details["stderr"][-STDERR_TAIL_CHARS:].strip()
        raise HandlerError(f"command exited with {done.code}: {tail}", details=done.details)
    metrics = {
        "exit_code": done.code,
        "duration_s": ctx.clock.monotonic() - started,
        "stdout_bytes": done.stdout_bytes,
        "stderr_bytes": done.stderr_bytes,
        "items_processed": 1,
    }
    message = f"{params.argv[0]} exited with {done.code}"
    return Outcome(message=message, details=done.details, metrics=metrics)
