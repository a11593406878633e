"""``quality_check``: run code-quality tools on a folder and fail over severity thresholds.

Each tool runs through the ``command`` handler's process machinery (argv, own process
group, timeout, output capture, redaction) in ``path``, which must lie inside
``allowed_roots``. ``ruff``, ``mypy``, ``bandit`` and ``pip-audit`` have default argv
and parsers (see :mod:`.quality_parsers`); any other argv is judged by its exit code.
Each tool's raw output is kept as an artifact. ``thresholds`` (per tool, and for the
sum over tools) map a severity or ``total`` to the most findings allowed; going over,
or a tool that could not run, fails the run.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from services.executor.handlers.base import HandlerError, Outcome, RunContext
from services.executor.handlers.command import (
    DEFAULT_ENV_ALLOW,
    CommandParams,
    confined_path,
    run_command,
)
from services.executor.handlers.kit import Params, keep_bytes, over_thresholds, severity_counts
from services.executor.handlers.quality_parsers import PARSERS, PRESETS, TOOL_EXIT_CODES
from services.executor.handlers.registry import handler

ThresholdKey = Literal["critical", "high", "medium", "low", "total"]
ParserName = Literal["ruff", "bandit", "pip-audit", "mypy", "exit-code"]


class Tool(Params):
    """One tool: a known name, or any name with its own ``argv`` (and optional parser)."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
    argv: list[str] | None = Field(None, min_length=1)
    parser: ParserName | None = None
    thresholds: dict[ThresholdKey, int] = Field(default_factory=dict)
    timeout_s: float = Field(600.0, gt=0)

    @model_validator(mode="after")
    def _runnable(self) -> Tool:
        if self.argv is None and self.name not in PRESETS:
            raise ValueError(f"tool {self.name!r} needs argv (known tools: {sorted(PRESETS)})")
        return self

    @property
    def command(self) -> list[str]:
        """The argv to run."""
        return self.argv or PRESETS[self.name]

    @property
    def parser_name(self) -> str:
        """How its output is read."""
        return self.parser or (self.name if self.name in PARSERS else "exit-code")


class QualityCheckParams(Params):
    """The folder to check, the tools, and the thresholds on all tools' findings."""

    path: str = Field(min_length=1)
    tools: list[Tool] = Field(min_length=1)
    thresholds: dict[ThresholdKey, int] = Field(default_factory=dict)
    env: dict[str, str] = Field(default_factory=dict)
    env_allow: list[str] = Field(default_factory=lambda: list(DEFAULT_ENV_ALLOW))
    max_output_bytes: int = Field(16 << 20, ge=1024)

    @field_validator("tools", mode="before")
    @classmethod
    def _names_are_tools(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"name": v} if isinstance(v, str) else v for v in value]
        return value


def _artifact_name(tool: Tool) -> str:
    suffix = "txt" if tool.parser_name in ("mypy", "exit-code") else "json"
    return f"{re.sub(r'[^A-Za-z0-9._-]', '_', tool.name)}.{suffix}"


async def _run_tool(
    ctx: RunContext, tool: Tool, params: QualityCheckParams, cwd: Any
) -> dict[str, Any]:
    spec = CommandParams(
        argv=tool.command, env=params.env, env_allow=params.env_allow,
        timeout_s=tool.timeout_s, max_output_bytes=params.max_output_bytes,
    )  # fmt: skip
    done = await run_command(spec, cwd)
    stdout = done.details["stdout"]
    kept = keep_bytes(ctx, _artifact_name(tool), stdout.encode())
    report: dict[str, Any] = {"tool": tool.name, "argv": done.details["argv"],
                              "exit_code": done.code, "parser": tool.parser_name,
                              "artifact": kept}  # fmt: skip
    if done.code not in TOOL_EXIT_CODES.get(tool.parser_name, range(-255, 256)):
        stderr = done.details["stderr"][-500:].strip()
        return {**report, "status": "failed", "error": f"exited with {done.code}: {stderr}"}
    if done.details["stdout_truncated"]:
        return {**report, "status": "failed", "error": "output over max_output_bytes"}
    try:
        counts = severity_counts(PARSERS[tool.parser_name](stdout, done.code))
    except (ValueError, AttributeError, TypeError) as exc:
        return {**report, "status": "failed", "error": f"cannot read its output: {exc}"}
    over = over_thresholds(counts, tool.thresholds.items())
    return {**report, "counts": counts, "over": over, "status": "over" if over else "ok"}


def _total(reports: list[dict[str, Any]]) -> dict[str, int]:
    return severity_counts(
        name for r in reports for name, n in r.get("counts", {}).items() for _ in range(n)
    )


@handler("quality_check", params=QualityCheckParams)
async def quality_check(ctx: RunContext, params: QualityCheckParams) -> Outcome:
    """Run every tool, count findings by severity, and fail over any threshold."""
    cwd = confined_path(ctx, params.path)
    if ctx.dry_run:
        return Outcome(message=f"dry run: would run {len(params.tools)} tools in {cwd}",
                       details={"tools": [t.command for t in params.tools]})  # fmt: skip
    reports = []
    for n, tool in enumerate(params.tools, 1):
        async with ctx.step(tool.name) as step:
            report = await _run_tool(ctx, tool, params, cwd)
            step.count(**report.get("counts", {}))
            step.message = report.get("error") or "; ".join(report.get("over", []))
        reports.append(report)
        await ctx.progress(n, len(params.tools), f"{tool.name}: {report['status']}")
    totals = _total(reports)
    over = over_thresholds(totals, params.thresholds.items())
    details = {"path": str(cwd), "tools": reports, "counts": totals, "over": over}
    metrics = {"items_processed": len(reports), "files_processed": 0, "bytes_freed": 0,
               "findings": sum(totals.values()),
               **{f"findings_{k}": v for k, v in totals.items()}}  # fmt: skip
    summary = ", ".join(f"{v} {k}" for k, v in totals.items() if v) or "no findings"
    problems = [f"{r['tool']}: {r.get('error') or '; '.join(r['over'])}"
                for r in reports if r["status"] != "ok"]  # fmt: skip
    problems += [f"all tools: {o}" for o in over]
    if problems:
        raise HandlerError(f"quality check failed ({'; '.join(problems)})",
                           details={**details, "metrics": metrics})  # fmt: skip
    return Outcome(message=f"{len(reports)} tools: {summary}", details=details, metrics=metrics)
