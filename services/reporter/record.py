"""The reporter's writes for one result, applied once per ``run_id`` + ``attempt``.

Keys written (DESIGN §2): ``result:<run_id>`` (hash, TTL = retention), ``history`` and
``history:<task>`` (capped streams), ``metrics:<task>:<yyyymmdd>`` (counters, duration
sum/max, fixed-bucket histogram) and ``schedule:state:<task>``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Final

from shared.contract.codec import encode, event_body, pack
from shared.contract.events import TaskResult
from shared.contract.keys import Keys
from shared.contract.scripts import GuardedBatch

HISTORY_MAXLEN: Final = 10_000
TASK_HISTORY_MAXLEN: Final = 1_000
DURATION_BUCKETS_S: Final = (0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600)
"""Histogram upper bounds (seconds); a final ``+Inf`` bucket catches the rest."""
FINAL_STATUSES: Final = ("succeeded", "skipped", "cancelled", "dead_lettered")


def bucket_for(duration_s: float) -> str:
    """The histogram bucket label for a duration."""
    for bound in DURATION_BUCKETS_S:
        if duration_s <= bound:
            return f"le_{bound:g}"
    return "le_inf"


def day_of(epoch: float) -> str:
    """UTC ``yyyymmdd`` of an epoch."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y%m%d")


def result_batch(keys: Keys, result: TaskResult, retention_s: int) -> GuardedBatch:
    """Every write the reporter makes for ``result``."""
    batch = GuardedBatch()
    flat = {
        "run_id": result.run_id, "task": result.task, "status": result.status,
        "attempt": result.attempt, "trigger": result.trigger,
        "finished_at": result.finished_at, "duration_s": result.duration_s,
        "message": result.message, "event": pack(event_body(result)),
    }  # fmt: skip
    rkey = keys.result(result.run_id)
    for field, value in flat.items():
        batch.add("HSET", rkey, field, value)
    batch.add("EXPIRE", rkey, retention_s)
    entry = encode(result)
    for stream, cap in (
        (keys.history, HISTORY_MAXLEN),
        (keys.task_history(result.task), TASK_HISTORY_MAXLEN),
    ):
        batch.add("XADD", stream, "MAXLEN", "~", cap, "*", *_pairs(entry))
    _metrics(batch, keys, result, retention_s)
    _state(batch, keys, result)
    return batch


def _pairs(fields: dict[str, bytes | str]) -> list[bytes | str]:
    return [x for kv in fields.items() for x in kv]


def _metrics(batch: GuardedBatch, keys: Keys, result: TaskResult, retention_s: int) -> None:
    mkey = keys.metrics(result.task, day_of(result.finished_at))
    batch.add("HINCRBY", mkey, "runs", 1)
    batch.add("HINCRBY", mkey, result.status, 1)
    batch.add("HINCRBYFLOAT", mkey, "duration_sum", result.duration_s)
    batch.add("HMAXFLOAT", mkey, "duration_max", result.duration_s)
    batch.add("HINCRBY", mkey, bucket_for(result.duration_s), 1)
    for name in ("files_processed", "bytes_freed", "items_processed"):
        value = result.metrics.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            batch.add("HINCRBYFLOAT", mkey, name, value)
    batch.add("EXPIRE", mkey, retention_s)


def _state(batch: GuardedBatch, keys: Keys, result: TaskResult) -> None:
    skey = keys.schedule_state(result.task)
    ok = result.status == "succeeded"
    batch.add("HSET", skey, "last_run_id", result.run_id, "last_status", result.status,
              "last_run_at", result.finished_at)  # fmt: skip
    batch.add("HINCRBY", skey, "runs", 1)
    batch.add("HINCRBY", skey, "successes" if ok else "failures", 1)
    if ok:
        batch.add("HSET", skey, "consecutive_failures", 0, "last_success_at", result.finished_at)
    elif result.status not in FINAL_STATUSES:
        batch.add("HINCRBY", skey, "consecutive_failures", 1)
        error = json.dumps(result.error) if result.error else result.message
        batch.add("HSET", skey, "last_error", error)
