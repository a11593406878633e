"""The reporter's writes for one result, applied once per ``run_id`` + ``attempt``.

Keys written (DESIGN §2): ``result:<run_id>`` (hash, TTL = retention), ``history`` and
``history:<task>`` (capped streams), ``metrics:<task>:<yyyymmdd>`` (counters, duration
sum/max, fixed-bucket histogram) and the reporter's own fields of
``schedule:state:<task>`` (:class:`~shared.contract.readmodel.RunTallyField`); the
records and field names are in :mod:`shared.contract.readmodel`.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Final

from shared.contract.codec import encode
from shared.contract.events import TaskResult
from shared.contract.keys import Keys
from shared.contract.readmodel import (
    FAILURE_STATUSES,
    METRIC_TOTALS,
    SAMPLED_GAUGES,
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
ERROR_TEXT_MAX: Final = 500
"""A day's last error is kept to this many characters (a report quotes it, no more)."""


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
        value = _number(result.metrics.get(name))
        if value is not None:
            batch.add("HINCRBYFLOAT", mkey, name, value)
    _report_aggregates(batch, mkey, result)
    batch.add("EXPIRE", mkey, retention_s)


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _report_aggregates(batch: GuardedBatch, mkey: str, result: TaskResult) -> None:
    """What the reports read besides counters: slots run (on-time rate), the day's last
    error, and min/max/sum/count of the sampled gauges (resource trends)."""
    if result.trigger == "schedule" and result.attempt == 1:
        batch.add("HINCRBY", mkey, MetricField.SLOTS_RUN, 1)
    if result.status in (*FAILURE_STATUSES, "dead_lettered"):
        batch.add("HSET", mkey, MetricField.LAST_ERROR, error_text(result)[:ERROR_TEXT_MAX])
    for gauge in SAMPLED_GAUGES:
        value = _number(result.metrics.get(gauge))
        if value is not None:
            batch.add("HMINFLOAT", mkey, f"{gauge}:min", value)
            batch.add("HMAXFLOAT", mkey, f"{gauge}:max", value)
            batch.add("HINCRBYFLOAT", mkey, f"{gauge}:sum", value)
            batch.add("HINCRBY", mkey, f"{gauge}:n", 1)


def error_text(result: TaskResult) -> str:
    """``Type: message`` of a result's error, else its message."""
    error = result.error or {}
    text = ": ".join(str(error[k]) for k in ("type", "message") if error.get(k))
    return text or result.message


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
