"""Code-quality tool output → one severity per finding (pure).

Severities share the audit scale (see :data:`~.kit.SEVERITIES`): ruff syntax errors
(E9, or no code) are high, pyflakes (F) findings medium, style the rest low; mypy errors
medium, warnings low (notes only explain errors); bandit keeps its own HIGH/MEDIUM/LOW;
every pip-audit vulnerability is high; a plain tool's non-zero exit is one high finding.
Malformed output raises ``ValueError``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, Final

_MYPY_LINE = re.compile(r"^[^:\n]+:\d+(?::\d+)?: (error|warning): ", re.MULTILINE)


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"output is not JSON ({exc.msg} at {exc.pos})") from None


def ruff(stdout: str, _code: int) -> list[str]:
    """``ruff check --output-format json``."""
    out = []
    for item in _json(stdout):
        code = item.get("code") or ""
        out.append("high" if not code or code.startswith("E9") else
                   "medium" if code.startswith("F") else "low")  # fmt: skip
    return out


def bandit(stdout: str, _code: int) -> list[str]:
    """``bandit -f json``."""
    levels = {"HIGH": "high", "MEDIUM": "medium"}
    return [levels.get(str(r.get("issue_severity")).upper(), "low")
            for r in _json(stdout).get("results", [])]  # fmt: skip


def pip_audit(stdout: str, _code: int) -> list[str]:
    """``pip-audit -f json`` (a list of dependencies, or ``{"dependencies": [...]}``)."""
    data = _json(stdout)
    dependencies = data.get("dependencies", []) if isinstance(data, dict) else data
    return ["high" for dep in dependencies for _ in dep.get("vulns", [])]


def mypy(stdout: str, _code: int) -> list[str]:
    """mypy's plain ``file:line: error: ...`` lines."""
    return ["medium" if kind == "error" else "low" for kind in _MYPY_LINE.findall(stdout)]


def exit_code(_stdout: str, code: int) -> list[str]:
    """Any other tool: a non-zero exit is one high finding."""
    return ["high"] if code != 0 else []


Parser = Callable[[str, int], list[str]]
PARSERS: Final[dict[str, Parser]] = {
    "ruff": ruff, "bandit": bandit, "pip-audit": pip_audit, "mypy": mypy, "exit-code": exit_code,
}  # fmt: skip
TOOL_EXIT_CODES: Final = {"ruff": (0, 1), "bandit": (0, 1), "pip-audit": (0, 1), "mypy": (0, 1)}
"""Exit codes meaning "ran and reported"; any other means the tool itself failed."""
PRESETS: Final = {
    "ruff": ["ruff", "check", "--output-format", "json", "."],
    "mypy": ["mypy", "--no-error-summary", "--no-color-output", "."],
    "bandit": ["bandit", "-r", ".", "-f", "json", "-q"],
    "pip-audit": ["pip-audit", "-f", "json", "--progress-spinner", "off"],
}
"""Default argv per known tool, run in the checked folder."""
