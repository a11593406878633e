"""The periodic reports: due at ``reports.daily``/``reports.weekly`` in the configured time
zone, made by exactly one reporter replica (``SET NX`` per kind and date), stored under
``{ns}:reports:<kind>:<date>`` (JSON) and as files in ``reports.dir``, and announced as an
``info`` alert (key ``report.<kind>``) for the notifier to deliver."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Final

from shared.config.models import Config, ReportsSettings
from shared.contract.codec import encode
from shared.contract.events import AlertRaised
from shared.contract.keys import Keys
from shared.reports.formats import file_name, render
from shared.reports.load import make_report
from shared.reports.periods import KINDS, Kind, latest_due, next_due
from shared.reports.render import pct, title, to_json
from shared.reports.schema import Report
from shared.runtime.clock import Clock
from shared.runtime.logging import get_logger
from shared.runtime.loop import sleep_or_stop
from shared.runtime.redis import Redis

log = get_logger("watchkeeper.reports")
CLAIM_TTL_S: Final = 600
"""A replica that claimed a report and died before storing it is replaced after this."""
CATCH_UP_S: Final = 6 * 3600
"""A periodic report is still made this long after it was due (a reporter restarting at
18:05 makes the 18:00 report); older ones only on demand (``watchkeeper report``)."""
MAX_SLEEP_S: Final = 300.0
"""Wake at least this often (a wall-clock jump, a missed wake-up)."""


def write_files(report: Report, settings: ReportsSettings) -> list[Path]:
    """Write ``report`` in every configured format to ``reports.dir`` (atomically: a
    reader never sees half a file); returns the paths."""
    folder = Path(settings.dir).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for fmt in settings.formats:
        path = folder / file_name(report, fmt)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(render(report, fmt), encoding="utf-8")
        os.replace(tmp, path)
        paths.append(path)
    return paths


def announcement(report: Report, key: str, paths: list[Path], now: float) -> AlertRaised:
    """The ``info`` alert telling people a report is ready (with a link to it)."""
    main = next((p for p in paths if p.suffix == ".html"), paths[0] if paths else None)
    s = report.summary
    labels = {"kind": report.kind, "date": report.date, "redis_key": key}
    if main is not None:
        labels |= {"path": str(main), "link": main.as_uri()}
    return AlertRaised(
        alert_id=f"report.{report.kind}.{report.date}", key=f"report.{report.kind}",
        severity="info", title=f"{title(report)} is ready",
        message=(f"{s.runs} runs, {s.failed} failed, success {pct(s.success_rate)}, "
                 f"on time {pct(s.on_time_rate)}. {report.recommendations[0]}"),
        source="reporter", labels=labels, first_seen=now, last_seen=now,
    )  # fmt: skip


@dataclass
class ReportProducer:
    """Makes the periodic reports of one reporter replica (``name``)."""

    r: Redis
    config: Config
    clock: Clock
    name: str

    @property
    def keys(self) -> Keys:
        """This deployment's keys."""
        return Keys(self.config.namespace)

    async def run_once(self) -> list[str]:
        """Make every periodic report due by now (within :data:`CATCH_UP_S`) that no replica
        made yet; returns the keys of those this replica made."""
        now, made = self.clock.now(), []
        for kind in KINDS:
            day, at = latest_due(kind, self.config.reports, self.config.timezone, now)
            if (now - at).total_seconds() <= CATCH_UP_S and await self.produce(kind, day):
                made.append(self.keys.report(kind, day.isoformat()))
        return made

    async def produce(self, kind: Kind, day: date) -> bool:
        """Make the ``kind`` report dated ``day`` unless it exists or another replica has
        claimed it; True if this replica made it."""
        key = self.keys.report(kind, day.isoformat())
        claim = self.keys.report_claim(kind, day.isoformat())
        if await self.r.exists(key) or not await self.r.set(claim, self.name, nx=True,
                                                            ex=CLAIM_TTL_S):  # fmt: skip
            return False
        now = self.clock.now()
        report = await make_report(self.r, self.keys, self.config, kind, day, now)
        await self.r.set(key, to_json(report))
        paths = await self._files(report)
        event = announcement(report, key, paths, now.timestamp())
        await self.r.xadd(self.keys.alerts_stream, encode(event))  # type: ignore[arg-type]
        log.info("reports.made", kind=kind, date=day.isoformat(), files=[str(p) for p in paths])
        return True

    async def _files(self, report: Report) -> list[Path]:
        try:
            return await asyncio.to_thread(write_files, report, self.config.reports)
        except OSError as exc:  # the report stays in Redis; the files are a copy
            log.error("reports.files_failed", dir=self.config.reports.dir, error=str(exc))
            return []

    async def tick(self, stop: asyncio.Event) -> None:
        """Make what is due, then sleep until the next report is due (or ``stop``)."""
        await self.run_once()
        now = self.clock.now()
        upcoming = min(next_due(k, self.config.reports, self.config.timezone, now) for k in KINDS)
        await sleep_or_stop(self.clock, stop, min((upcoming - now).total_seconds(), MAX_SLEEP_S))
