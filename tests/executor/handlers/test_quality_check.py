"""``quality_check`` runs real tools through the command machinery and counts findings."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from services.executor.handlers import quality_parsers as parse
from services.executor.handlers.base import HandlerError, ParamsError
from services.executor.safety import ConfinementError
from tests.executor.handlers.support import make_ctx, run_handler

# ruff as a module of this interpreter: no PATH assumptions; --isolated ignores our config
RUFF = [sys.executable, "-m", "ruff", "check", "--isolated", "--output-format", "json",
        "--no-cache", "--select", "E,F", "."]  # fmt: skip


def _plant(root: Path) -> Path:
    src = root / "src"
    src.mkdir()
    (src / "bad.py").write_text("import os\nimport sys\n\nprint(undefined_name)\nx=1 ;\n")
    (src / "good.py").write_text("VALUE = 1\n")
    return src


def _read(path: str) -> str:
    return Path(path).read_text()


async def test_ruff_findings_are_counted_and_kept(tmp_path: Path) -> None:
    _plant(tmp_path)
    ctx = make_ctx(roots=(tmp_path,), artifacts=tmp_path / "artifacts")
    params = {"path": "src", "tools": [{"name": "ruff", "argv": RUFF}]}
    outcome = await run_handler("quality_check", ctx, params)
    (report,) = outcome.details["tools"]
    # F401 x2 and F821 are pyflakes (medium); E703 is style (low)
    assert report["counts"] == {"critical": 0, "high": 0, "medium": 3, "low": 1}
    assert report["exit_code"] == 1 and report["status"] == "ok"
    raw = json.loads(_read(report["artifact"]))
    assert sorted(item["code"] for item in raw) == ["E703", "F401", "F401", "F821"]
    assert outcome.metrics["findings"] == 4
    assert ctx.record()["steps"][0]["counts"] == {"critical": 0, "high": 0, "medium": 3, "low": 1}


async def test_over_a_threshold_the_run_fails(tmp_path: Path) -> None:
    _plant(tmp_path)
    ctx = make_ctx(roots=(tmp_path,))
    params = {"path": "src", "tools": [{"name": "ruff", "argv": RUFF, "thresholds": {"medium": 2}}],
              "thresholds": {"total": 3}}  # fmt: skip
    with pytest.raises(HandlerError) as caught:
        await run_handler("quality_check", ctx, params)
    expected = "quality check failed (ruff: medium: 3 > 2; all tools: total: 4 > 3)"
    assert str(caught.value) == expected
    assert caught.value.details["counts"]["medium"] == 3


async def test_within_thresholds_it_succeeds_and_a_broken_tool_fails(tmp_path: Path) -> None:
    _plant(tmp_path)
    ctx = make_ctx(roots=(tmp_path,))
    ok = {"path": "src", "tools": [{"name": "ruff", "argv": RUFF}], "thresholds": {"total": 4}}
    assert (await run_handler("quality_check", ctx, ok)).metrics["findings"] == 4
    broken = [*RUFF[:3], "--no-such-flag", "."]
    with pytest.raises(HandlerError, match=r"ruff: exited with 2"):
        await run_handler("quality_check", ctx, {"path": "src", "tools": [
            {"name": "ruff", "argv": broken}]})  # fmt: skip


async def test_any_argv_is_judged_by_its_exit_code(tmp_path: Path) -> None:
    _plant(tmp_path)
    check = [sys.executable, "-c", "import sys; sys.exit(3)"]
    params = {"path": "src", "tools": [{"name": "custom-check", "argv": check}]}
    outcome = await run_handler("quality_check", make_ctx(roots=(tmp_path,)), params)
    assert outcome.details["counts"]["high"] == 1


async def test_path_is_confined_and_params_checked(tmp_path: Path) -> None:
    ctx = make_ctx(roots=(tmp_path,))
    with pytest.raises(ConfinementError):
        await run_handler("quality_check", ctx, {"path": "/etc", "tools": ["ruff"]})
    with pytest.raises(ParamsError, match=r"^params\.tools\.0: tool 'lint' needs argv"):
        await run_handler("quality_check", ctx, {"path": ".", "tools": ["lint"]})
    with pytest.raises(ParamsError, match=r"^params\.thresholds\.severe\b.*'critical'"):
        await run_handler("quality_check", ctx, {"path": ".", "tools": ["ruff"],
                                                 "thresholds": {"severe": 1}})  # fmt: skip


def test_parsers() -> None:
    bandit = {"results": [{"issue_severity": "HIGH"}, {"issue_severity": "LOW"}]}
    assert parse.bandit(json.dumps(bandit), 1) == ["high", "low"]
    audit = {"dependencies": [{"name": "a", "vulns": [{"id": "X"}, {"id": "Y"}]},
                              {"name": "b", "vulns": []}]}  # fmt: skip
    assert parse.pip_audit(json.dumps(audit), 1) == ["high", "high"]
    assert parse.pip_audit(json.dumps([{"name": "a", "vulns": [{"id": "X"}]}]), 1) == ["high"]
    mypy_out = "a.py:3: error: Bad [misc]\na.py:3: note: See\nb.py:9:2: warning: Unused\n"
    assert parse.mypy(mypy_out, 1) == ["medium", "low"]
    with pytest.raises(ValueError, match="not JSON"):
        parse.ruff("Traceback ...", 2)
