"""What the built-in handlers share: a strict params base, severities and artifacts."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from typing import Any, Final

from pydantic import BaseModel, ConfigDict

from services.executor.handlers.base import RunContext

SEVERITIES: Final = ("critical", "high", "medium", "low")
"""Finding severities, worst first (audits and code-quality tools share the scale)."""


class Params(BaseModel):
    """Base of every built-in handler's params: unknown fields are errors, values frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def severity_counts(severities: Iterable[str]) -> dict[str, int]:
    """How many of each severity, every severity present (zeros included), worst first."""
    counted = Counter(severities)
    return {name: counted.get(name, 0) for name in SEVERITIES}


def over_thresholds(counts: dict[str, int], limits: Iterable[tuple[str, int]]) -> list[str]:
    """Limits (severity or ``total``, most allowed) that ``counts`` exceeds, as text."""
    totals = {**counts, "total": sum(counts.values())}
    return [
        f"{name}: {totals.get(name, 0)} > {limit}"
        for name, limit in limits
        if totals.get(name, 0) > limit
    ]


def keep_bytes(ctx: RunContext, name: str, data: bytes) -> str | None:
    """Save ``data`` as artifact ``name``; None when this executor keeps no artifacts.

    An audit or a tool run is still worth its result without the artifact, so a missing
    artifacts folder is not a failure (the result says it was not kept).
    """
    if ctx.artifacts.root is None:
        return None
    return ctx.artifacts.save(name, data)


def keep_json(ctx: RunContext, name: str, data: Any) -> str | None:
    """Save ``data`` as JSON artifact ``name`` (see :func:`keep_bytes`)."""
    return keep_bytes(ctx, name, json.dumps(data, indent=2, sort_keys=True).encode())
