"""The alert view reads only the status of all but the newest history entry: the same
status a full decode gives, and nothing for an entry a decode refuses."""

from __future__ import annotations

from typing import Any

import pytest

from services.reporter.evaluate import _status
from shared.contract.codec import encode, pack
from shared.contract.events import TaskResult


def _wire(fields: dict[str, Any]) -> dict[bytes, bytes]:
    return {k.encode(): v if isinstance(v, bytes) else str(v).encode() for k, v in fields.items()}


@pytest.mark.parametrize("status", ["succeeded", "failed", "timed_out", "dead_lettered"])
def test_the_status_of_a_result_entry(status: str) -> None:
    result = TaskResult(run_id="t:1", task="t", handler="h", attempt=1, trigger="manual",
                        scheduled_for=1.0, status=status, started_at=1.0, finished_at=2.0,
                        duration_s=1.0, executor="e")  # fmt: skip
    assert _status(_wire(encode(result))) == status


@pytest.mark.parametrize(
    "fields",
    [
        {"type": "task.result", "v": "1", "body": b"\xc1"},  # not msgpack
        {"type": "task.result", "v": "2", "body": pack({"status": "failed"})},  # other version
        {"type": "task.due", "v": "1", "body": pack({"status": "failed"})},
        {"type": "task.result", "v": "1", "body": pack({"status": "exploded"})},
        {"type": "task.result", "v": "1", "body": pack(["failed"])},
        {"type": "task.result", "v": "1"},
    ],
)
def test_nothing_for_an_entry_that_is_not_a_readable_result(fields: dict[str, Any]) -> None:
    assert _status(_wire(fields)) is None
