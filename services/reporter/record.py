"""The reporter's writes for one result, applied once per ``run_id`` + ``attempt``.

Keys written (DESIGN §2): ``result:<run_id>`` (hash, TTL = retention), ``history`` and
``history:<task>`` (capped streams), ``metrics:<task>:<yyyymmdd>`` (counters, duration
sum/max, fixed-bucket histogram) and the reporter's own fields of
``schedule:state:<task>`` (:class:`~shared.contract.readmodel.RunTallyField`); the
records and field names are in :mod:`shared.contract.readmodel`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Final

from shared.contract.codec import encode
from shared.contract.events import TaskResult
from shared.contract.keys import Keys
from shared.contract.readmodel import (
    METRIC_TOTALS,
    MetricField,
    ResultRecord,
    bucket_for,
)
from shared.contract.readmodel import RunTallyField as F
from shared.contract.scripts import GuardedBatch
from shared.contract.tallies import total_field

HISTORY_MAXLEN: Final = 10_000
TASK_HISTORY_MAXLEN: Final = 1_000
FINAL_STATUSES: Final = ("succeeded", "skipped", "cancelled", "dead_lettered")


def day_of(epoch: float) -> str:
    """UTC ``yyyymmdd`` of an epoch."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y%m%d")


def result_batch(keys: Keys, result: TaskResult, retention_s: int) -> GuardedBatch:
    """Every write the reporter makes for ``result``."""
    batch = GuardedBatch()
    rkey = keys.result(result.run_id)
    for field, value in ResultRecord.of(result).to_fields().items():
        batch.add("HSET", rkey, field, value)
    batch.add("EXPIRE", rkey, retention_s)
    entry = encode(result)
    for stream, cap in (
        (keys.history, HISTORY_MAXLEN),
        (keys.task_history(result.task), TASK_HISTORY_MAXLEN),
    ):
        batch.add("XADD", stream, "MAXLEN", "~", cap, "*", *_pairs(entry))
    _metrics(batch, keys, result, retention_s)
    _totals(batch, keys, result)
    _state(batch, keys, result)
    return batch


def _pairs(fields: dict[str, bytes | str]) -> list[bytes | str]:
    return [x for kv in fields.items() for x in kv]


def _metrics(batch: GuardedBatch, keys: Keys, result: TaskResult, retention_s: int) -> None:
    mkey = keys.metrics(result.task, day_of(result.finished_at))
    batch.add("HINCRBY", mkey, MetricField.RUNS, 1)
    batch.add("HINCRBY", mkey, result.status, 1)
    batch.add("HINCRBYFLOAT", mkey, MetricField.DURATION_SUM, result.duration_s)
    batch.add("HMAXFLOAT", mkey, MetricField.DURATION_MAX, result.duration_s)
    batch.add("HINCRBY", mkey, bucket_for(result.duration_s), 1)
    for name in METRIC_TOTALS:
        value = result.metrics.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            batch.add("HINCRBYFLOAT", mkey, name, value)
    batch.add("EXPIRE", mkey, retention_s)


def _totals(batch: GuardedBatch, keys: Keys, result: TaskResult) -> None:
    """Lifetime counters (never expire) for ``/metrics``: see :mod:`shared.contract.tallies`."""
    for name in (MetricField.RUNS, result.status, bucket_for(result.duration_s)):
        batch.add("HINCRBY", keys.totals, total_field(name, result.task), 1)
    batch.add("HINCRBYFLOAT", keys.totals, total_field(MetricField.DURATION_SUM, result.task),
              result.duration_s)  # fmt: skip


def _state(batch: GuardedBatch, keys: Keys, result: TaskResult) -> None:
    skey = keys.schedule_state(result.task)
    ok = result.status == "succeeded"
    batch.add("HSET", skey, F.LAST_RUN_ID, result.run_id, F.LAST_STATUS, result.status,
              F.LAST_RUN_AT, result.finished_at)  # fmt: skip
    batch.add("HINCRBY", skey, F.RUNS, 1)
    batch.add("HINCRBY", skey, F.SUCCESSES if ok else F.FAILURES, 1)
    if ok:
        batch.add("HSET", skey, F.CONSECUTIVE_FAILURES, 0, F.LAST_SUCCESS_AT, result.finished_at)
    elif result.status not in FINAL_STATUSES:
        batch.add("HINCRBY", skey, F.CONSECUTIVE_FAILURES, 1)
        error = json.dumps(result.error) if result.error else result.message
        batch.add("HSET", skey, F.LAST_ERROR, error)
