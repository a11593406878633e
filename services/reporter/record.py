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
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Final, cast

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
from shared.contract.tallied import ADD, ADD_FLOAT, EXPIRE, MAX, MIN, SET, TalliedCall
from shared.contract.tallies import total_field

HISTORY_MAXLEN: Final = 10_000
TASK_HISTORY_MAXLEN: Final = 1_000
FINAL_STATUSES: Final = ("succeeded", "skipped", "cancelled", "dead_lettered")
ERROR_TEXT_MAX: Final = 500
"""A day's last error is kept to this many characters (a report quotes it, no more)."""
ERROR_STATUSES: Final = frozenset((*FAILURE_STATUSES, "dead_lettered"))
"""Statuses whose error becomes the day's last error."""


def day_of(epoch: float) -> str:
    """UTC ``yyyymmdd`` of an epoch."""
    return _day(int(epoch // 86_400))


@lru_cache(maxsize=64)
def _day(days: int) -> str:
    return datetime.fromtimestamp(days * 86_400, UTC).strftime("%Y%m%d")


def add_result(call: TalliedCall, keys: Keys, result: TaskResult, marker: str,
               retention_s: int) -> None:  # fmt: skip
    """Queue every write the reporter makes for ``result``, applied once per ``marker``:
    its own result hash and history entries, and its share of the task's daily metrics,
    lifetime totals and state (summed over the call)."""
    entry = encode(result)
    body = cast(bytes, entry["body"])
    rkey = call.key(keys.result(result.run_id))
    pairs = ("*", "type", entry["type"], "v", entry["v"], "body", body)
    call.item(marker, (
        ("HSET", rkey, *ResultRecord.pairs_of(result, event=body)),
        ("EXPIRE", rkey, retention_s),
        ("XADD", call.key(keys.history), "MAXLEN", "~", HISTORY_MAXLEN, *pairs),
        ("XADD", call.key(keys.task_history(result.task)), "MAXLEN", "~", TASK_HISTORY_MAXLEN,
         *pairs),
    ))  # fmt: skip
    call.tally(call.key(keys.metrics(result.task, day_of(result.finished_at))),
               *_metrics(result), EXPIRE, "", retention_s)  # fmt: skip
    call.tally(call.key(keys.totals), *_totals(result))
    call.tally(call.key(keys.schedule_state(result.task)), *_state(result))


def _metrics(result: TaskResult) -> list[Any]:
    """The result's share of its day's metrics, as tally ops."""
    duration = result.duration_s
    ops: list[Any] = [ADD, MetricField.RUNS, 1, ADD, result.status, 1, ADD, bucket_for(duration), 1,
                      ADD_FLOAT, MetricField.DURATION_SUM, duration,
                      MAX, MetricField.DURATION_MAX, duration]  # fmt: skip
    if result.trigger == "schedule" and result.attempt == 1:
        ops += (ADD, MetricField.SLOTS_RUN, 1)
    if result.status in ERROR_STATUSES:
        ops += (SET, MetricField.LAST_ERROR, error_text(result)[:ERROR_TEXT_MAX])
    if result.metrics:
        ops += _handler_metrics(result.metrics)
    return ops


def _handler_metrics(metrics: Mapping[str, Any]) -> list[Any]:
    """Summed handler metrics, and min/max/sum/count of the sampled gauges (the reports'
    resource trends)."""
    ops: list[Any] = []
    for name in METRIC_TOTALS:
        value = _number(metrics.get(name))
        if value is not None:
            ops += (ADD_FLOAT, name, value)
    for gauge in SAMPLED_GAUGES:
        value = _number(metrics.get(gauge))
        if value is not None:
            ops += (MIN, f"{gauge}:min", value, MAX, f"{gauge}:max", value,
                    ADD_FLOAT, f"{gauge}:sum", value, ADD, f"{gauge}:n", 1)  # fmt: skip
    return ops


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def error_text(result: TaskResult) -> str:
    """``Type: message`` of a result's error, else its message."""
    error = result.error or {}
    text = ": ".join(str(error[k]) for k in ("type", "message") if error.get(k))
    return text or result.message


def _totals(result: TaskResult) -> tuple[Any, ...]:
    """Lifetime counters (never expire) for ``/metrics``: see :mod:`shared.contract.tallies`."""
    task = result.task
    return (ADD, total_field(MetricField.RUNS, task), 1, ADD, total_field(result.status, task), 1,
            ADD, total_field(bucket_for(result.duration_s), task), 1,
            ADD_FLOAT, total_field(MetricField.DURATION_SUM, task), result.duration_s)  # fmt: skip


def _state(result: TaskResult) -> list[Any]:
    """The reporter's fields of the task's state (:class:`RunTallyField`), as tally ops."""
    ops: list[Any] = [SET, F.LAST_RUN_ID, result.run_id, SET, F.LAST_STATUS, result.status,
                      SET, F.LAST_RUN_AT, result.finished_at, ADD, F.RUNS, 1]  # fmt: skip
    if result.status == "succeeded":
        ops += (ADD, F.SUCCESSES, 1, SET, F.CONSECUTIVE_FAILURES, 0,
                SET, F.LAST_SUCCESS_AT, result.finished_at)  # fmt: skip
        return ops
    ops += (ADD, F.FAILURES, 1)
    if result.status not in FINAL_STATUSES:
        error = json.dumps(result.error) if result.error else result.message
        ops += (ADD, F.CONSECUTIVE_FAILURES, 1, SET, F.LAST_ERROR, error)
    return ops
