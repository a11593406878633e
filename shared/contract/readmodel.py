"""The read model: every hash services write for others to read, as typed records.

One record per hash, its attribute names are the hash's field names
(:mod:`shared.contract.records`), and each field has exactly one writer:

- ``{ns}:result:<run_id>`` — :class:`ResultRecord`, written by the reporter;
- ``{ns}:schedule:state:<task>`` — :class:`ScheduleState`, shared by four writers, each
  owning its own fields (:data:`STATE_WRITERS`);
- ``{ns}:metrics:<task>:<yyyymmdd>`` — :class:`DailyMetrics`, written by the reporter;
- ``{ns}:executor:<id>`` — :class:`ExecutorBeat`, written by that executor;
- ``{ns}:run:<run_id>:progress`` — :class:`RunProgress`, written by the executor running it;
- ``{ns}:alert:<key>`` — :class:`AlertRecord`, written by the reporter's alert store (the
  ``acked_*``/``silenced_*`` fields by :mod:`shared.contract.alerts`, for the CLI and API).

Readers (the API, the CLI, reports) only ever go through these records.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

from shared.contract.codec import event_body, pack, unpack
from shared.contract.events import RESULT_STATUSES, TaskResult
from shared.contract.records import FieldValue, HashRecord, RecordError, as_text


@dataclass(frozen=True, slots=True, kw_only=True)
class ResultRecord(HashRecord):
    """``{ns}:result:<run_id>``: the latest result of one run (writer: the reporter).

    The headline fields are for listing without decoding; ``event`` is the whole
    ``task.result`` body (msgpack), which the API returns as is.
    """

    run_id: str
    task: str
    status: str
    attempt: int
    trigger: str
    finished_at: float
    duration_s: float
    message: str = ""
    event: bytes

    @classmethod
    def of(cls, result: TaskResult, *, event: bytes | None = None) -> ResultRecord:
        """The record of ``result``; ``event`` is its packed body when the caller has it
        already (the ``body`` of :func:`~shared.contract.codec.encode`)."""
        return cls(
            run_id=result.run_id, task=result.task, status=result.status,
            attempt=result.attempt, trigger=result.trigger, finished_at=result.finished_at,
            duration_s=result.duration_s, message=result.message,
            event=pack(event_body(result)) if event is None else event,
        )  # fmt: skip

    @classmethod
    def pairs_of(cls, result: TaskResult, *, event: bytes) -> list[FieldValue]:
        """``HSET`` arguments of :meth:`of` ``(result, event=event)``, without building the
        record (every result recorded comes this way)."""
        return cls.pairs_from(result, event=event)

    def body(self) -> dict[str, Any]:
        """The full ``task.result`` body as a map."""
        body: dict[str, Any] = unpack(self.event)
        return body


# -- schedule:state: one enum of field names per writer ------------------------------
class FiredField(StrEnum):
    """Written by the scheduler's emission script (``schedule_emit.lua``) when a run is
    emitted: when, for which slot, and the run id (the run may not have finished), and the
    highest schedule slot emitted (epoch ms), which makes each schedule slot fire once."""

    FIRED_AT = "fired_at"
    FIRED_SLOT = "fired_slot"
    FIRED_RUN_ID = "fired_run_id"
    FIRED_HWM = "fired_hwm"


class ControlField(StrEnum):
    """Written by the scheduler's control intake (pause/resume)."""

    PAUSED = "paused"


class SchedTallyField(StrEnum):
    """Written by the scheduler's result intake, once per *run* (its terminal result,
    after any retries): what cooldown, dependencies and the priority score read."""

    SCHED_RESULTS = "sched_results"
    SCHED_SUCCESSES = "sched_successes"
    SCHED_STATUS = "sched_status"
    SCHED_FINISHED_AT = "sched_finished_at"
    SCHED_SUCCESS_AT = "sched_success_at"


class RunTallyField(StrEnum):
    """Written by the reporter, once per *attempt* (every result, retries included):
    what people and reports read."""

    RUNS = "runs"
    SUCCESSES = "successes"
    FAILURES = "failures"
    CONSECUTIVE_FAILURES = "consecutive_failures"
    LAST_RUN_ID = "last_run_id"
    LAST_STATUS = "last_status"
    LAST_RUN_AT = "last_run_at"
    LAST_SUCCESS_AT = "last_success_at"
    LAST_ERROR = "last_error"


STATE_WRITERS: Final[Mapping[str, type[StrEnum]]] = {
    "scheduler emission (schedule_emit.lua)": FiredField,
    "scheduler control intake": ControlField,
    "scheduler result intake": SchedTallyField,
    "reporter": RunTallyField,
}
"""Who writes which fields of ``schedule:state:<task>``: each field has one writer."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ScheduleState(HashRecord):
    """``{ns}:schedule:state:<task>``; see :data:`STATE_WRITERS` for who writes what.

    ``sched_*`` count runs as the scheduler sees them (one per run, after retries);
    ``runs``/``successes``/``failures`` count attempts as the reporter records them.
    """

    fired_at: float | None = None
    fired_slot: str | None = None
    fired_run_id: str | None = None
    fired_hwm: str | None = None
    paused: bool = False
    sched_results: int = 0
    sched_successes: int = 0
    sched_status: str | None = None
    sched_finished_at: float | None = None
    sched_success_at: float | None = None
    runs: int = 0
    successes: int = 0
    failures: int = 0
    consecutive_failures: int = 0
    last_run_id: str | None = None
    last_status: str | None = None
    last_run_at: float | None = None
    last_success_at: float | None = None
    last_error: str | None = None

    def success_rate(self) -> float | None:
        """Share of runs that succeeded (scheduler's tally, 0..1); None with no runs."""
        return self.sched_successes / self.sched_results if self.sched_results else None


# -- metrics ------------------------------------------------------------------------
DURATION_BUCKETS_S: Final = (0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600)
"""Histogram upper bounds (seconds); a final ``+Inf`` bucket catches the rest."""
BUCKET_LABELS: Final = (*(f"le_{b:g}" for b in DURATION_BUCKETS_S), "le_inf")
"""The histogram's field names, smallest bucket first."""
METRIC_TOTALS: Final = ("files_processed", "bytes_freed", "items_processed")
"""Handler metrics summed per day."""
SAMPLED_GAUGES: Final = ("health_score", "cpu_percent", "memory_percent", "disk_percent")
"""Handler metrics kept per day as min/max/sum/count (``system_health_check`` reports them):
the reports' resource trends, without reading the results."""
GAUGE_STATS: Final = ("min", "max", "sum", "n")
"""The per-day statistics of a sampled gauge; its fields are ``<gauge>:<stat>``."""
FAILURE_STATUSES: Final = ("failed", "timed_out", "rolled_back")
"""Statuses reports count as failures (skipped, dead-lettered, cancelled are counted apart)."""


def bucket_for(duration_s: float) -> str:
    """The histogram field a duration is counted in."""
    for bound, label in zip(DURATION_BUCKETS_S, BUCKET_LABELS, strict=False):
        if duration_s <= bound:
            return label
    return BUCKET_LABELS[-1]


class MetricField(StrEnum):
    """The fixed fields of a day's metrics (besides one counter per status, one per
    histogram bucket and one per :data:`METRIC_TOTALS` name)."""

    RUNS = "runs"
    DURATION_SUM = "duration_sum"
    DURATION_MAX = "duration_max"
    SLOTS_RUN = "slots_run"
    """Schedule slots that ran (first attempts of ``trigger: schedule`` runs)."""
    LAST_ERROR = "last_error"
    """The error of the day's most recently recorded failure, as text."""


@dataclass(frozen=True, slots=True)
class GaugeDay:
    """One day of a sampled gauge (:data:`SAMPLED_GAUGES`)."""

    min: float
    max: float
    sum: float
    n: int

    @property
    def mean(self) -> float:
        """The day's average (0 with no sample)."""
        return self.sum / self.n if self.n else 0.0


def _gauges(stored: Mapping[str, str]) -> dict[str, GaugeDay]:
    found = {}
    for gauge in SAMPLED_GAUGES:
        if f"{gauge}:n" in stored:
            s = [float(stored.get(f"{gauge}:{stat}", 0)) for stat in GAUGE_STATS]
            found[gauge] = GaugeDay(s[0], s[1], s[2], int(s[3]))
    return found


@dataclass(frozen=True, slots=True, kw_only=True)
class DailyMetrics:
    """``{ns}:metrics:<task>:<yyyymmdd>``: one task's counters for one UTC day (writer:
    the reporter). ``statuses`` counts results per status, ``buckets`` the duration
    histogram (:data:`BUCKET_LABELS`), ``totals`` the summed handler metrics, ``gauges``
    the sampled ones (:data:`SAMPLED_GAUGES`)."""

    runs: int = 0
    duration_sum: float = 0.0
    duration_max: float = 0.0
    slots_run: int = 0
    last_error: str = ""
    statuses: Mapping[str, int] = field(default_factory=dict)
    buckets: Mapping[str, int] = field(default_factory=dict)
    totals: Mapping[str, float] = field(default_factory=dict)
    gauges: Mapping[str, GaugeDay] = field(default_factory=dict)

    def to_fields(self) -> dict[str, FieldValue]:
        """The mapping to ``HSET`` (the reporter increments these instead)."""
        head: dict[str, FieldValue] = {
            MetricField.RUNS: self.runs, MetricField.DURATION_SUM: self.duration_sum,
            MetricField.DURATION_MAX: self.duration_max, MetricField.SLOTS_RUN: self.slots_run,
        }  # fmt: skip
        if self.last_error:
            head[MetricField.LAST_ERROR] = self.last_error
        gauges = {
            f"{name}:{stat}": getattr(day, stat)
            for name, day in self.gauges.items()
            for stat in GAUGE_STATS
        }
        return {**head, **self.statuses, **self.buckets, **self.totals, **gauges}

    @classmethod
    def from_fields(cls, raw: Mapping[Any, Any]) -> DailyMetrics:
        """Read an ``HGETALL`` reply (unknown fields are ignored)."""
        stored = {as_text(k): as_text(v) for k, v in raw.items()}
        try:
            return cls(
                runs=int(stored.get(MetricField.RUNS, 0)),
                duration_sum=float(stored.get(MetricField.DURATION_SUM, 0)),
                duration_max=float(stored.get(MetricField.DURATION_MAX, 0)),
                slots_run=int(stored.get(MetricField.SLOTS_RUN, 0)),
                last_error=stored.get(MetricField.LAST_ERROR, ""),
                statuses={s: int(stored[s]) for s in RESULT_STATUSES if s in stored},
                buckets={b: int(stored[b]) for b in BUCKET_LABELS if b in stored},
                totals={t: float(stored[t]) for t in METRIC_TOTALS if t in stored},
                gauges=_gauges(stored),
            )
        except ValueError as exc:
            raise RecordError(f"DailyMetrics: {exc}") from None


# -- executors and running runs -----------------------------------------------------
@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutorBeat(HashRecord):
    """``{ns}:executor:<id>``: an executor's heartbeat (writer: that executor; the key's
    TTL of a few beats means present = alive)."""

    id: str
    host: str
    pid: int
    started_at: float
    last_beat: float
    inflight: int
    max_concurrent: int


@dataclass(frozen=True, slots=True, kw_only=True)
class RunProgress(HashRecord):
    """``{ns}:run:<run_id>:progress``: what a running handler reported (writer: the
    executor running it; deleted when the result is published)."""

    done: float
    total: float | None = None
    percent: float | None = None
    note: str = ""
    updated_at: float
    executor: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready progress (numbers as numbers, unknown total as null)."""
        return {"done": self.done, "total": self.total, "percent": self.percent,
                "note": self.note, "updated_at": self.updated_at}  # fmt: skip


# -- alerts -------------------------------------------------------------------------
@dataclass(frozen=True, slots=True, kw_only=True)
class AlertRecord(HashRecord):
    """``{ns}:alert:<key>``: one alert by its dedupe key, active while ``resolved_at`` is
    unset (its key is then in the sorted set ``{ns}:alerts``; once resolved, in
    ``{ns}:alerts:resolved`` and the hash expires after a week).

    Writers: the reporter's alert store (``services/reporter/alerting``) owns every field
    but ``acked_by``/``acked_at``/``silenced_until``/``silenced_by``, which
    :mod:`shared.contract.alerts` writes for the CLI and the API.

    ``announced_*`` remember the last announcement (cooldown and reminders survive any
    restart); ``held`` marks a raise not yet announced (silenced, or inside the cooldown).

    Exported by ``/metrics`` as ``watchkeeper_alerts_active{severity}``: the keys in
    ``{ns}:alerts`` counted by this record's ``severity``
    (:func:`shared.contract.alerts.active_by_severity`).
    """

    key: str
    alert_id: str
    severity: str
    title: str
    message: str = ""
    source: str = ""
    labels: str = "{}"
    """JSON object of string labels (``task``, ``rule``, …)."""
    details: str = "{}"
    """JSON object with context for receivers (run id, error, measured values)."""
    first_seen: float
    last_seen: float
    count: int = 1
    resolved_at: float | None = None
    acked_by: str | None = None
    acked_at: float | None = None
    silenced_until: float | None = None
    silenced_by: str | None = None
    announced_at: float | None = None
    announced_severity: str | None = None
    announcements: int = 0
    held: bool = False

    @property
    def active(self) -> bool:
        """Not resolved."""
        return self.resolved_at is None

    def label_map(self) -> dict[str, str]:
        """The labels as a map (empty when the stored JSON is garbled)."""
        return _json_map(self.labels)

    def detail_map(self) -> dict[str, Any]:
        """The details as a map (empty when the stored JSON is garbled)."""
        return _json_map(self.details)

    def silenced(self, now: float) -> bool:
        """Whether a silence holds at ``now``."""
        return self.silenced_until is not None and self.silenced_until > now

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (the CLI's ``-o json`` and the API print this)."""
        out: dict[str, Any] = {name: getattr(self, name) for name in self.field_names()}
        out["labels"], out["details"] = self.label_map(), self.detail_map()
        out["state"] = "active" if self.active else "resolved"
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AlertRecord:
        """The record :meth:`as_dict` printed (the API's JSON read back)."""
        values = {name: data[name] for name in cls.field_names() if name in data}
        values["labels"] = json.dumps(data.get("labels") or {})
        values["details"] = json.dumps(data.get("details") or {})
        return cls(**values)


def _json_map(raw: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
