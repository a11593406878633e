"""``GET /metrics``: Prometheus exposition of what Redis holds (prometheus-client).

Each scrape reads one :class:`~services.api.metrics_read.Snapshot` from Redis and turns
it into metric families with :class:`SnapshotCollector`; nothing is counted in the API
process, so every replica reports the same numbers. Run ids never become labels: the
label values are task names, statuses, causes, stream and group names, severities and
alert channels, all bounded by the configuration.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from aiohttp import web
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from services.api.metrics_read import DeliveryCounters, Snapshot, read_snapshot
from shared.contract.decisions import Outcome
from shared.contract.keys import Keys
from shared.contract.readmodel import BUCKET_LABELS, DURATION_BUCKETS_S
from shared.contract.tallies import (
    LATENESS_BUCKETS_S,
    LATENESS_LABELS,
    lateness_sum_s,
)
from shared.runtime.clock import Clock
from shared.runtime.redis import Redis

NOT_RUN: Final = (Outcome.SKIPPED, Outcome.MISSED, Outcome.COALESCED)
"""Decisions counted as skipped runs (a slot that did not run), by their cause."""
METRIC_NAMES: Final = (
    "watchkeeper_task_runs_total",
    "watchkeeper_run_duration_seconds",
    "watchkeeper_last_success_timestamp_seconds",
    "watchkeeper_skipped_runs_total",
    "watchkeeper_fire_lateness_seconds",
    "watchkeeper_stream_pending_messages",
    "watchkeeper_executors_alive",
    "watchkeeper_dead_letters_total",
    "watchkeeper_alerts_active",
    "watchkeeper_alert_deliveries_total",
    "watchkeeper_health_score",
)
"""Every metric family exported (a histogram adds ``_bucket``, ``_sum`` and ``_count``)."""


def histogram_buckets(
    counts: Mapping[str, float], bounds: Sequence[float], labels: Sequence[str]
) -> list[tuple[str, float]]:
    """Cumulative ``(le, count)`` pairs from per-bucket ``counts`` keyed by ``labels``
    (the last label is the ``+Inf`` bucket)."""
    out, running = [], 0.0
    for bound, label in zip((*bounds, float("inf")), labels, strict=True):
        running += counts.get(label, 0)
        out.append(("+Inf" if math.isinf(bound) else repr(float(bound)), running))
    return out


@dataclass(frozen=True, slots=True)
class SnapshotCollector(Collector):
    """A prometheus-client collector over one snapshot."""

    snap: Snapshot

    def collect(self) -> Iterator[Metric]:
        """Yield every family of :data:`METRIC_NAMES`, in that order."""
        yield from self._runs()
        yield self._skipped()
        yield self._lateness()
        yield from self._infrastructure()
        yield from self._alerting()

    def _runs(self) -> Iterator[Metric]:
        runs = CounterMetricFamily(
            "watchkeeper_task_runs",
            "Results recorded per task and outcome (every attempt).",
            labels=["task", "outcome"],
        )
        durations = HistogramMetricFamily(
            "watchkeeper_run_duration_seconds", "Run durations per task.", labels=["task"]
        )
        last = GaugeMetricFamily(
            "watchkeeper_last_success_timestamp_seconds",
            "When each task last succeeded (epoch).",
            labels=["task"],
        )
        for task, totals in sorted(self.snap.totals.items()):
            for status, count in sorted(totals.statuses.items()):
                runs.add_metric([task, status], count)
            buckets = histogram_buckets(totals.buckets, DURATION_BUCKETS_S, BUCKET_LABELS)
            durations.add_metric([task], buckets, totals.duration_sum)
        for task, at in sorted(self.snap.last_success.items()):
            last.add_metric([task], at)
        yield from (runs, durations, last)

    def _skipped(self) -> Metric:
        family = CounterMetricFamily("watchkeeper_skipped_runs", "Scheduled slots that did "
                                     "not run, by reason.", labels=["task", "reason"])  # fmt: skip
        counts: dict[tuple[str, str], int] = {}
        for (task, outcome, cause), n in self.snap.decisions.items():
            if outcome in NOT_RUN:
                key = (task, cause or outcome)
                counts[key] = counts.get(key, 0) + n
        for labels, n in sorted(counts.items()):
            family.add_metric(list(labels), n)
        return family

    def _lateness(self) -> Metric:
        raw = self.snap.lateness
        family = HistogramMetricFamily("watchkeeper_fire_lateness_seconds",
                                       "How late scheduled runs were emitted after their "
                                       "fire time.")  # fmt: skip
        buckets = histogram_buckets(raw, LATENESS_BUCKETS_S, LATENESS_LABELS)
        family.add_metric([], buckets, lateness_sum_s(raw))
        return family

    def _infrastructure(self) -> Iterator[Metric]:
        pending = GaugeMetricFamily("watchkeeper_stream_pending_messages", "Entries delivered "
                                    "but not yet acknowledged, per stream and consumer group.",
                                    labels=["stream", "group"])  # fmt: skip
        for (stream, group), n in sorted(self.snap.pending.items()):
            pending.add_metric([stream, group], n)
        yield pending
        yield GaugeMetricFamily("watchkeeper_executors_alive", "Executors with a live "
                                "heartbeat.", value=self.snap.executors_alive)  # fmt: skip
        yield CounterMetricFamily("watchkeeper_dead_letters", "Entries moved to the dead-letter "
                                  "stream.", value=self.snap.dead_letters)  # fmt: skip

    def _alerting(self) -> Iterator[Metric]:
        active = GaugeMetricFamily("watchkeeper_alerts_active", "Active alerts by severity.",
                                   labels=["severity"])  # fmt: skip
        for severity, n in sorted(self.snap.alerts.items()):
            active.add_metric([severity], n)
        deliveries = CounterMetricFamily(
            "watchkeeper_alert_deliveries",
            "Alert deliveries per channel and outcome.",
            labels=["channel", "outcome"],
        )
        for (channel, outcome), n in sorted(self.snap.deliveries.items()):
            deliveries.add_metric([channel, outcome], n)
        health = GaugeMetricFamily("watchkeeper_health_score",
                                   "Latest system health score (0-100).")  # fmt: skip
        if self.snap.health_score is not None:
            health.add_metric([], self.snap.health_score)
        yield from (active, deliveries, health)


@dataclass(frozen=True, slots=True)
class MetricsSource:
    """Where the endpoint reads from (kept in the app's state)."""

    r: Redis
    keys: Keys
    deliveries: DeliveryCounters


SOURCE: web.AppKey[MetricsSource] = web.AppKey("metrics", MetricsSource)


async def metrics_endpoint(request: web.Request) -> web.Response:
    """``GET /metrics``: the Prometheus text exposition (Redis down: 503 via middleware)."""
    source = request.app[SOURCE]
    snap = await read_snapshot(source.r, source.keys, source.deliveries)
    body = generate_latest(SnapshotCollector(snap))
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def install(app: web.Application, r: Redis, keys: Keys, clock: Clock) -> None:
    """Give ``app`` what ``/metrics`` reads (one call in the app factory; the route itself
    is in the route table, ``services.api.routes.health``)."""
    app[SOURCE] = MetricsSource(r, keys, DeliveryCounters(clock))
