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
from shared.contract.records import FieldValue
from shared.contract.tallied import TalliedCall
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
        ("HSET", rkey, *_pairs(ResultRecord.of(result, event=body).to_fields())),
        ("EXPIRE", rkey, retention_s),
        ("XADD", call.key(keys.history), "MAXLEN", "~", HISTORY_MAXLEN, *pairs),
        ("XADD", call.key(keys.task_history(result.task)), "MAXLEN", "~", TASK_HISTORY_MAXLEN,
         *pairs),
    ))  # fmt: skip
    mkey = call.key(keys.metrics(result.task, day_of(result.finished_at)))
    _metrics(call, mkey, result)
    call.expire(mkey, retention_s)
    _totals(call, call.key(keys.totals), result)
    _state(call, call.key(keys.schedule_state(result.task)), result)


def _pairs(fields: Mapping[str, FieldValue]) -> list[FieldValue]:
    return [x for kv in fields.items() for x in kv]


def _metrics(call: TalliedCall, mkey: int, result: TaskResult) -> None:
    duration = result.duration_s
    call.add(mkey, MetricField.RUNS, 1)
    call.add(mkey, result.status, 1)
    call.add_float(mkey, MetricField.DURATION_SUM, duration)
    call.keep_max(mkey, MetricField.DURATION_MAX, duration)
    call.add(mkey, bucket_for(duration), 1)
    if result.trigger == "schedule" and result.attempt == 1:
        call.add(mkey, MetricField.SLOTS_RUN, 1)
    if result.status in ERROR_STATUSES:
        call.set(mkey, MetricField.LAST_ERROR, error_text(result)[:ERROR_TEXT_MAX])
    if result.metrics:
        _handler_metrics(call, mkey, result.metrics)


def _handler_metrics(call: TalliedCall, mkey: int, metrics: Mapping[str, Any]) -> None:
    """Summed handler metrics, and min/max/sum/count of the sampled gauges (the reports'
    resource trends)."""
    for name in METRIC_TOTALS:
        value = _number(metrics.get(name))
        if value is not None:
            call.add_float(mkey, name, value)
    for gauge in SAMPLED_GAUGES:
        value = _number(metrics.get(gauge))
        if value is not None:
            call.keep_min(mkey, f"{gauge}:min", value)
            call.keep_max(mkey, f"{gauge}:max", value)
            call.add_float(mkey, f"{gauge}:sum", value)
            call.add(mkey, f"{gauge}:n", 1)


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def error_text(result: TaskResult) -> str:
    """``Type: message`` of a result's error, else its message."""
    error = result.error or {}
    text = ": ".join(str(error[k]) for k in ("type", "message") if error.get(k))
    return text or result.message


def _totals(call: TalliedCall, totals: int, result: TaskResult) -> None:
    """Lifetime counters (never expire) for ``/metrics``: see :mod:`shared.contract.tallies`."""
    task = result.task
    for name in (MetricField.RUNS, result.status, bucket_for(result.duration_s)):
        call.add(totals, total_field(name, task), 1)
    call.add_float(totals, total_field(MetricField.DURATION_SUM, task), result.duration_s)


def _state(call: TalliedCall, skey: int, result: TaskResult) -> None:
    call.set(skey, F.LAST_RUN_ID, result.run_id)
    call.set(skey, F.LAST_STATUS, result.status)
    call.set(skey, F.LAST_RUN_AT, result.finished_at)
    call.add(skey, F.RUNS, 1)
    if result.status == "succeeded":
        call.add(skey, F.SUCCESSES, 1)
        call.set(skey, F.CONSECUTIVE_FAILURES, 0)
        call.set(skey, F.LAST_SUCCESS_AT, result.finished_at)
        return
    call.add(skey, F.FAILURES, 1)
    if result.status not in FINAL_STATUSES:
        call.add(skey, F.CONSECUTIVE_FAILURES, 1)
        call.set(skey, F.LAST_ERROR, json.dumps(result.error) if result.error else result.message)
