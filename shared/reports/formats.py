"""The report formats by name (``reports.formats``; the CLI also accepts ``md``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from shared.reports.markdown import to_markdown
from shared.reports.render import to_csv, to_html, to_json
from shared.reports.schema import Report

RENDERERS: Final[dict[str, tuple[str, Callable[[Report], str]]]] = {
    "html": ("html", to_html),
    "json": ("json", to_json),
    "csv": ("csv", to_csv),
    "markdown": ("md", to_markdown),
}
"""Format → (file extension, renderer)."""
ALIASES: Final = {"md": "markdown"}


def render(report: Report, fmt: str) -> str:
    """``report`` in format ``fmt`` (a name of :data:`RENDERERS` or an alias)."""
    return RENDERERS[ALIASES.get(fmt, fmt)][1](report)


def file_name(report: Report, fmt: str) -> str:
    """``daily-2026-01-05.html``."""
    return f"{report.kind}-{report.date}.{RENDERERS[ALIASES.get(fmt, fmt)][0]}"
