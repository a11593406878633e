"""When a log is due for rotation and which renames rotate it (pure: no I/O, no clock).

Generations are ``<log>.1`` (newest) … ``<log>.<keep>``, each with ``.gz`` when compressed.
Rotating shifts every generation up by one, from the oldest down so nothing is
overwritten, deletes those that would pass ``keep``, and turns the live log into
generation 1.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

GENERATION_RE: Final = re.compile(r"\.(\d+)(\.gz)?$")
"""A rotated generation's name ends like this; such files are never rotated themselves."""


@dataclass(frozen=True, slots=True)
class LogFacts:
    """A live log: its size, and when its newest generation was made (None: never)."""

    path: Path
    size: int
    newest_generation_mtime: float | None


@dataclass(frozen=True, slots=True)
class RotationStep:
    """``delete`` ``src``; ``move`` ``src`` to ``dest``; or ``rotate`` the log into ``dest``."""

    kind: Literal["delete", "move", "rotate"]
    src: Path
    dest: Path | None = None


def generation(log: Path, n: int, compress: bool) -> Path:
    """Path of generation ``n`` of ``log``."""
    return log.with_name(f"{log.name}.{n}{'.gz' if compress else ''}")


def due_reason(
    facts: LogFacts, now: float, max_size: int | None, max_age: float | None, min_size: int
) -> str | None:
    """Why ``facts`` should rotate now, or None.

    Size: at least ``max_size`` bytes. Age: the newest generation (≈ the last rotation)
    is older than ``max_age``, or there is none yet. A log under ``min_size`` (empty by
    default) never rotates: rotating nothing only pushes a real generation out.
    """
    if facts.size < max(min_size, 1):
        return None
    if max_size is not None and facts.size >= max_size:
        return f"size {facts.size} B ≥ max_size {max_size} B"
    if max_age is None:
        return None
    last = facts.newest_generation_mtime
    if last is None:
        return "no generation yet"
    if now - last >= max_age:
        return f"last rotation {now - last:.0f}s ago ≥ max_age {max_age:.0f}s"
    return None


def rotation_steps(log: Path, existing: set[int], keep: int, compress: bool) -> list[RotationStep]:
    """The steps that rotate ``log`` given its ``existing`` generation numbers."""
    steps: list[RotationStep] = []
    for n in sorted(existing, reverse=True):
        src = generation(log, n, compress)
        if n >= keep:
            steps.append(RotationStep("delete", src))
        else:
            steps.append(RotationStep("move", src, generation(log, n + 1, compress)))
    steps.append(RotationStep("rotate", log, generation(log, 1, compress)))
    return steps
