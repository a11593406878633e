"""``watchkeeper alerts``: list, ack, silence, test — output shapes and exit codes."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml
from click.testing import CliRunner

from services.cli.main import cli
from services.reporter.alerting.transition import Observation
from shared.contract import alerts
from shared.contract.keys import Keys
from shared.runtime.redis import client
from tests.cli.conftest import raise_alerts
from tests.reporter.alert_support import LOOPBACK

T0 = 1_800_000_000.0


def _config(tmp_path: Path, keys: Keys, **alerts_section: Any) -> Path:
    path = tmp_path / "wk.yml"
    path.write_text(yaml.safe_dump({"namespace": keys.ns, "alerts": alerts_section}))
    return path


def _get(redis_url: str, keys: Keys, key: str) -> Any:
    async def main() -> Any:
        r = client(redis_url)
        try:
            return await alerts.get(r, keys, key)
        finally:
            await r.aclose()

    return asyncio.run(main())


def _invoke(args: list[str], redis_url: str) -> Any:
    return CliRunner().invoke(cli, args, env={"REDIS_URL": redis_url}, catch_exceptions=False)


def test_list_ack_silence_and_exit_codes(tmp_path: Path, keys: Keys, redis_url: str) -> None:
    cfg = str(_config(tmp_path, keys))
    assert "no active alerts" in _invoke(["alerts", "-c", cfg], redis_url).output
    disk = Observation(key="system.disk", severity="warning", title="disk at 91 %", at=T0)
    gateway = Observation(key="probe.gateway", severity="critical", title="gateway down", at=T0)
    raise_alerts(redis_url, keys, disk, gateway)

    shown = _invoke(["alerts", "-c", cfg, "--json"], redis_url)
    assert shown.exit_code == 0
    listed = json.loads(shown.output)
    assert [a["key"] for a in listed] == ["probe.gateway", "system.disk"]
    assert listed[0]["state"] == "active" and listed[0]["labels"] == {}
    assert "gateway down" in _invoke(["alerts", "-c", cfg], redis_url).output
    assert "SOURCE" in _invoke(["alerts", "-c", cfg, "-o", "wide"], redis_url).output

    acked = _invoke(["alerts", "-c", cfg, "ack", "probe.gateway", "--by", "ana"], redis_url)
    assert acked.exit_code == 0 and _get(redis_url, keys, "probe.gateway").acked_by == "ana"
    silenced = _invoke(["alerts", "-c", cfg, "silence", "system.disk", "--for", "2h"], redis_url)
    assert silenced.exit_code == 0
    assert _get(redis_url, keys, "system.disk").silenced_until > time.time() + 7000
    assert "silenced" in _invoke(["alerts", "-c", cfg], redis_url).output

    assert _invoke(["alerts", "-c", cfg, "ack", "nope"], redis_url).exit_code == 3
    bad = _invoke(["alerts", "-c", cfg, "silence", "system.disk", "--for", "soon"], redis_url)
    assert bad.exit_code == 2
    assert _invoke(["alerts", "-c", cfg], "redis://127.0.0.1:1").exit_code == 4
    (tmp_path / "broken.yml").write_text("alerts: {cooldown: -1}\n")
    assert _invoke(["alerts", "-c", str(tmp_path / "broken.yml")], redis_url).exit_code == 2


class _Hook(BaseHTTPRequestHandler):
    bodies: ClassVar[list[bytes]] = []

    def do_POST(self) -> None:
        self.bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"received, thanks")

    def log_message(self, *_: Any) -> None:
        return


@pytest.fixture
def hook_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()
    server.server_close()


def test_test_prints_the_receivers_answer(tmp_path: Path, keys: Keys, hook_url: str) -> None:
    cfg = str(_config(tmp_path, keys, allow_private_targets=LOOPBACK, channels=[
        {"type": "webhook", "name": "ops-hook", "url": hook_url},
        {"type": "slack", "url": "${WK_UNSET_SLACK_URL}"}]))  # fmt: skip
    sent = _invoke(["alerts", "test", "ops-hook", "-c", cfg], "redis://127.0.0.1:1")
    assert sent.exit_code == 0, sent.output
    assert "ops-hook: HTTP 200 received, thanks" in sent.output
    assert json.loads(_Hook.bodies[-1])["alerts"][0]["labels"]["alertname"] == "watchkeeper.test"
    assert _invoke(["alerts", "test", "slack", "-c", cfg], "x").exit_code == 2  # no URL set
    assert _invoke(["alerts", "test", "pager", "-c", cfg], "x").exit_code == 3
    refused = str(_config(tmp_path, keys, channels=[{"type": "webhook", "url": hook_url}]))
    blocked = _invoke(["alerts", "test", "webhook", "-c", refused], "x")
    assert blocked.exit_code == 1 and "loopback address" in blocked.output
