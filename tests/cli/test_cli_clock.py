"""The CLI reads time only through its clock: a FakeClock given to the command decides
what "now" is for ``preview`` and for the window-conflict look-ahead of ``validate``."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from click.testing import CliRunner

from services.cli.main import cli
from shared.runtime.clock import FakeClock


def test_preview_starts_at_the_clocks_now() -> None:
    clock = FakeClock(datetime(2031, 5, 6, 7, 8, tzinfo=UTC))
    done = CliRunner().invoke(cli, ["preview", "--every", "1h", "-n", "2"], obj={"clock": clock})
    assert done.exit_code == 0, done.output
    assert done.output.splitlines()[0].startswith("2031-05-06 08:00:00Z")


def test_window_conflicts_are_looked_for_from_the_clocks_now(tmp_path: Path) -> None:
    cfg = tmp_path / "wk.yml"
    cfg.write_text(
        "windows:\n  nightly: {hours: '01:00-05:00', max_concurrent: 1, start: 2040-01-01}\n"
        "tasks:\n"
        "  a: {handler: command, params: {argv: ['true']}, window: nightly,"
        " schedule: {cron: '0 2 * * *'}, timeout: 1h}\n"
        "  b: {handler: command, params: {argv: ['true']}, window: nightly,"
        " schedule: {cron: '30 2 * * *'}, timeout: 1h}\n"
    )
    warnings = []
    for year in (2030, 2040):  # the window opens in 2040: conflicts only within two weeks of it
        clock = FakeClock(datetime(year, 1, 1, tzinfo=UTC))
        done = CliRunner().invoke(cli, ["validate", "-c", str(cfg)], obj={"clock": clock})
        assert done.exit_code == 0, done.output
        warnings.append("max_concurrent is 1" in done.output)
    assert warnings == [False, True]
