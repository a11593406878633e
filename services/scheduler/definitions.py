"""The leader's task definitions, held as stored and parsed on demand.

A parsed ``TaskConfig`` takes about 4 KB, its stored (compact) JSON about 100 bytes;
with 100,000 tasks the parsed ones alone would take 400 MB, though only the tasks
firing or reporting right now are read. :class:`Definitions` keeps, per task, the bytes
Redis holds (which also tell an unchanged definition from a changed one), and parses a
definition when asked, keeping the most recently used ones parsed.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator, Mapping
from typing import Final

from shared.config import taskdefs
from shared.config.models import TaskConfig

PARSED_KEPT: Final = 4_096
"""Parsed definitions kept (least recently used dropped first). A parsed definition
takes about 2.2 KB, so this bounds what firing adds to the loaded state (9 MB; 16,384
took 37 MB once that many tasks had run). A burst of more tasks parses each one about
three times (once per pass of the tick, 3-4 µs each: about 1-2 % of a fire's cost)."""


class Definitions(Mapping[str, TaskConfig]):
    """Task name → definition; the mapping every part of the scheduler reads."""

    def __init__(self, kept: int = PARSED_KEPT) -> None:
        self._stored: dict[str, bytes] = {}
        self._parsed: OrderedDict[str, TaskConfig] = OrderedDict()
        self._kept = kept

    def set(self, name: str, raw: bytes) -> TaskConfig:
        """Store ``raw`` (as read from Redis) as ``name``'s definition; returns it parsed.

        Raises pydantic's ``ValidationError`` for a definition that does not parse (the
        previous one is then kept).
        """
        task = taskdefs.parse(raw)
        self._stored[name] = raw
        self._parsed.pop(name, None)
        return task

    def same(self, name: str, raw: bytes) -> bool:
        """Whether ``raw`` is the stored definition ``name`` already holds."""
        return self._stored.get(name) == raw

    def remove(self, name: str) -> None:
        """Forget ``name`` (deleted)."""
        self._stored.pop(name, None)
        self._parsed.pop(name, None)

    def __getitem__(self, name: str) -> TaskConfig:
        task = self._parsed.get(name)
        if task is not None:
            self._parsed.move_to_end(name)
            return task
        task = taskdefs.parse(self._stored[name])
        self._parsed[name] = task
        if len(self._parsed) > self._kept:
            self._parsed.popitem(last=False)
        return task

    def __contains__(self, name: object) -> bool:
        return name in self._stored

    def __iter__(self) -> Iterator[str]:
        return iter(self._stored)

    def __len__(self) -> int:
        return len(self._stored)
