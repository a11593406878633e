"""Closed vocabularies shared by events, configuration, keys and services, defined once.

Each is a ``Literal`` type (so pydantic and mypy check it) and the tuple of its values
in a meaningful order (so code can iterate and rank it).
"""

from __future__ import annotations

from typing import Final, Literal, get_args

Priority = Literal["critical", "high", "normal", "low"]
"""How urgent a run is; picks its due stream."""
PRIORITIES: Final[tuple[Priority, ...]] = get_args(Priority)
"""Due-stream priorities, most urgent first (executors read in this order)."""
PRIORITY_RANK: Final[dict[str, int]] = {p: i for i, p in enumerate(PRIORITIES)}
"""Priority class → rank, 0 most urgent (emission order when much is due at once)."""

Severity = Literal["critical", "warning", "info"]
"""How bad an alert is."""
SEVERITIES: Final[tuple[Severity, ...]] = get_args(Severity)
"""Alert severities, most severe first."""
SEVERITY_RANK: Final[dict[str, int]] = {s: len(SEVERITIES) - i for i, s in enumerate(SEVERITIES)}
"""Severity → rank, higher is more severe (``critical`` 3 … ``info`` 1)."""
