"""`watchkeeper report` builds a report from Redis alone (no reporter running)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import yaml
from click.testing import CliRunner

from services.cli.main import cli
from shared.contract.keys import Keys
from shared.runtime.clock import FakeClock
from shared.runtime.redis import client
from tests.reporter.report_history import NOW, config_body, record_history

GOLDEN = Path(__file__).parents[1] / "shared" / "reports" / "golden"


def _setup(tmp_path: Path, keys: Keys, redis_url: str) -> Path:
    async def record() -> None:
        r = client(redis_url)
        try:
            await record_history(r, keys)
        finally:
            await r.aclose()

    asyncio.run(record())
    path = tmp_path / "wk.yml"
    path.write_text(yaml.safe_dump(config_body(keys.ns) | {"redis": {"url": redis_url}}))
    return path


def test_report_prints_and_writes_without_a_reporter(
    tmp_path: Path, keys: Keys, redis_url: str
) -> None:
    cfg, runner = _setup(tmp_path, keys, redis_url), CliRunner()
    clock = {"clock": FakeClock(NOW)}
    shown = runner.invoke(cli, ["report", "daily", "-c", str(cfg)], obj=clock)
    assert shown.exit_code == 0, shown.output
    golden = (GOLDEN / "daily-2026-03-10.md").read_text()
    assert shown.output == golden

    out = tmp_path / "weekly.json"
    args = ["report", "weekly", "-c", str(cfg), "--date", "2026-03-15", "--format", "json"]
    written = runner.invoke(cli, [*args, "--out", str(out)], obj=clock)
    assert written.exit_code == 0, written.output
    document = json.loads(out.read_text())
    assert (document["kind"], document["period"]["first_day"]) == ("weekly", "2026-03-08")
    assert written.output.strip() == f"weekly report 2026-03-15 (json) written to {out}"


def test_report_refuses_a_bad_date(tmp_path: Path, keys: Keys) -> None:
    cfg = tmp_path / "wk.yml"
    cfg.write_text(yaml.safe_dump({"namespace": keys.ns}))
    result = CliRunner().invoke(cli, ["report", "daily", "-c", str(cfg), "--date", "March"])
    assert result.exit_code == 2
    assert "'March' is not YYYY-MM-DD" in result.output
