"""The ``command`` handler with real subprocesses: argv only, env allow-list, group kill."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import psutil
import pytest

from services.executor.handlers import registry
from services.executor.handlers.base import HandlerError, Outcome, ParamsError, RunContext
from services.executor.handlers.command import DEFAULT_ENV_ALLOW, CommandParams, command
from services.executor.safety import ConfinementError
from shared.runtime.clock import FakeClock
from shared.runtime.logging import get_logger


def _ctx(root: Path, *, dry_run: bool = False) -> RunContext:
    return RunContext(
        run_id="run-1",
        task="lint",
        attempt=1,
        clock=FakeClock(),
        log=get_logger("test"),
        allowed_roots=(str(root),),
        dry_run=dry_run,
    )


async def _run(root: Path, **params: object) -> Outcome:
    spec = registry.get("command")
    assert spec is not None
    return await spec.run(_ctx(root), spec.parse_params({"cwd": str(root), **params}))


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _group_members(pgid: int) -> list[int]:
    members = []
    for pid in psutil.pids():
        try:
            if os.getpgid(pid) == pgid and _alive(pid):
                members.append(pid)
        except ProcessLookupError:
            continue
    return members


def _started_group(path: Path) -> int | None:
    """The pid the child wrote to ``path`` once it has started both of its children."""
    text = path.read_text() if path.exists() else ""
    if not text.endswith("\n"):
        return None
    pid = int(text)
    return pid if len(psutil.Process(pid).children(recursive=True)) >= 2 else None


async def _read_pid(path: Path) -> int:
    """Wait (bounded: 10 s) until the child has written its pid and started its children."""
    for _ in range(400):
        pid = _started_group(path)
        if pid is not None:
            return pid
        await asyncio.sleep(0.025)
    raise AssertionError(f"child never wrote {path}")


async def test_shell_metacharacters_stay_literal(tmp_path: Path) -> None:
    text = "a; rm -rf x && $(touch pwned) `touch pwned2` | cat > out"
    outcome = await _run(tmp_path, argv=["echo", text])
    assert outcome.details["stdout"] == text + "\n"
    assert sorted(os.listdir(tmp_path)) == []
    assert outcome.metrics["exit_code"] == 0


def test_a_shell_string_is_refused_with_a_clear_error() -> None:
    spec = registry.get("command")
    assert spec is not None
    with pytest.raises(ParamsError) as info:
        spec.parse_params({"argv": "echo hi; rm -rf /"})
    assert str(info.value) == "params.argv must be a list of arguments, not a shell string"
    with pytest.raises(ParamsError, match=r"params\.argv"):
        spec.parse_params({"argv": []})
    with pytest.raises(ParamsError, match=r"argv\[0\]"):
        spec.parse_params({"argv": [""]})


async def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    script = "echo $$ > pid.tmp && mv pid.tmp pid; sleep 30 & sleep 30 & wait"
    run = asyncio.create_task(_run(tmp_path, argv=["sh", "-c", script], timeout_s=1.5))
    pgid = await _read_pid(tmp_path / "pid")
    family = [pgid, *(c.pid for c in psutil.Process(pgid).children(recursive=True))]
    with pytest.raises(TimeoutError, match=r"timed out after 1\.5 s"):
        await run
    assert _group_members(pgid) == []
    assert [pid for pid in family if _alive(pid)] == []


async def test_sigterm_ignored_escalates_to_sigkill(tmp_path: Path) -> None:
    script = "trap '' TERM; echo $$ > pid.tmp && mv pid.tmp pid; sleep 30 & sleep 30 & wait"
    run = asyncio.create_task(_run(tmp_path, argv=["sh", "-c", script], timeout_s=1.0))
    pgid = await _read_pid(tmp_path / "pid")
    with pytest.raises(TimeoutError):
        await run
    assert _group_members(pgid) == []


async def test_cancellation_kills_the_whole_process_group(tmp_path: Path) -> None:
    script = "echo $$ > pid.tmp && mv pid.tmp pid; sleep 30 & sleep 30 & wait"
    run = asyncio.create_task(_run(tmp_path, argv=["sh", "-c", script]))
    pgid = await _read_pid(tmp_path / "pid")
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    assert _group_members(pgid) == []


async def test_background_leftovers_are_stopped_after_exit(tmp_path: Path) -> None:
    outcome = await _run(tmp_path, argv=["sh", "-c", "sleep 30 >/dev/null 2>&1 & echo $!"])
    assert not _alive(int(outcome.details["stdout"]))


async def test_env_allow_list_hides_parent_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WK_PARENT_ONLY", "do-not-leak")
    monkeypatch.setenv("PATH", os.environ.get("PATH", os.defpath))
    hidden = await _run(tmp_path, argv=["env"], env={"EXTRA": "given"})
    seen = dict(line.split("=", 1) for line in hidden.details["stdout"].splitlines())
    assert "WK_PARENT_ONLY" not in seen
    assert seen["EXTRA"] == "given"
    assert seen["PATH"] == os.environ["PATH"]
    assert set(seen) <= {*DEFAULT_ENV_ALLOW, "EXTRA"}
    shown = await _run(tmp_path, argv=["/usr/bin/env"], env_allow=["WK_PARENT_ONLY"])
    assert shown.details["stdout"] == "WK_PARENT_ONLY=do-not-leak\n"


async def test_secrets_are_redacted_from_output(tmp_path: Path) -> None:
    script = 'echo "token=$API_TOKEN"; echo "$API_TOKEN" >&2'
    outcome = await _run(tmp_path, argv=["sh", "-c", script], env={"API_TOKEN": "s3cr3t-value"})
    assert "s3cr3t-value" not in outcome.details["stdout"] + outcome.details["stderr"]
    assert outcome.details["stdout"] == "token=***\n"


async def test_output_is_truncated_keeping_the_tail(tmp_path: Path) -> None:
    code = "import sys; sys.stdout.write('x' * 200_000 + 'END')"
    outcome = await _run(tmp_path, argv=[sys.executable, "-c", code], max_output_bytes=1024)
    stdout = outcome.details["stdout"]
    assert stdout.startswith("[... 198979 bytes truncated ...]\n")
    assert stdout.endswith("x" * 1021 + "END")
    assert outcome.details["stdout_truncated"] is True
    assert outcome.metrics["stdout_bytes"] == 200_003


async def test_bad_exit_code_fails_with_stderr_tail(tmp_path: Path) -> None:
    script = "echo progress; echo 'lint: 3 problems' >&2; exit 3"
    with pytest.raises(HandlerError, match="command exited with 3: lint: 3 problems") as info:
        await _run(tmp_path, argv=["sh", "-c", script])
    assert info.value.details["stdout"] == "progress\n"
    accepted = await _run(tmp_path, argv=["sh", "-c", script], ok_exit_codes=[0, 3])
    assert accepted.metrics["exit_code"] == 3


async def test_cwd_is_confined_and_relative_to_the_first_root(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    params = CommandParams(argv=["pwd"], cwd="sub")
    outcome = await command(_ctx(tmp_path), params)
    assert outcome.details["stdout"] == f"{tmp_path / 'sub'}\n"
    with pytest.raises(ConfinementError, match="outside allowed_roots"):
        await command(_ctx(tmp_path), CommandParams(argv=["pwd"], cwd="/etc"))


async def test_missing_program_is_a_handler_error(tmp_path: Path) -> None:
    with pytest.raises(HandlerError, match="cannot start 'wk-no-such-program'"):
        await _run(tmp_path, argv=["wk-no-such-program"])


async def test_dry_run_starts_nothing(tmp_path: Path) -> None:
    params = CommandParams(argv=["touch", str(tmp_path / "made")])
    outcome = await command(_ctx(tmp_path, dry_run=True), params)
    assert outcome.message.startswith("dry run: would run")
    assert os.listdir(tmp_path) == []


def test_command_is_a_builtin_handler() -> None:
    assert "command" in registry.names()
