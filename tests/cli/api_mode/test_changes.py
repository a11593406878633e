"""``--api`` for ``alerts``, ``dead-letters`` and ``rollbacks``: the same listings as on
Redis in every ``-o`` format, changes made through the API seen in Redis, and the exit
codes kept (3 not found, 5 a refused token, 4 no API, 2 a bad argument)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import redis

from services.reporter.alerting.transition import Observation
from shared.contract import alerts
from shared.contract.codec import encode
from shared.contract.events import TriggerRun
from shared.contract.keys import SCHEDULER_GROUP, Keys
from shared.runtime.clock import FakeClock
from shared.runtime.embedded import free_port
from shared.runtime.redis import Entry, client, dead_letter, text
from shared.runtime.rollbacks import PointStore, Preserve, RollbackPoint, create_point
from tests.cli.api_mode.conftest import ADMIN, outputs, same_in_every_format
from tests.cli.conftest import Invoke, raise_alerts

NOW = time.time()
VIEWER = {"WATCHKEEPER_TOKEN": "v-token"}
ALERTS = (
    Observation(key="system.disk", severity="warning", title="disk 91 %", at=NOW - 300),
    Observation(key="probe.gateway", severity="critical", title="gateway down", at=NOW - 200),
    Observation(key="task.failing:sweep", severity="warning", title="sweep failing", at=NOW),
)


def test_alerts_list_ack_and_silence_through_the_api(
    wk: Invoke, api: str, keys: Keys, redis_url: str
) -> None:
    raise_alerts(redis_url, keys, *ALERTS, resolve=("task.failing:sweep",))
    listed = same_in_every_format(wk, api, "alerts")
    assert [a["key"] for a in listed] == ["probe.gateway", "system.disk"]
    every = same_in_every_format(wk, api, "alerts", "--all")
    assert [a["state"] for a in every] == ["active", "active", "resolved"]

    acked = wk("--api", api, "alerts", "ack", "probe.gateway", env=ADMIN)
    assert (acked.exit_code, acked.stdout) == (0, "acknowledged probe.gateway (api:admin)\n")
    silenced = wk("--api", api, "alerts", "silence", "system.disk", "--for", "2h", env=ADMIN)
    assert silenced.exit_code == 0 and "(api:admin)" in silenced.stdout
    gateway, disk = (_alert(redis_url, keys, k) for k in ("probe.gateway", "system.disk"))
    assert gateway.acked_by == "api:admin" and disk.silenced_by == "api:admin"
    assert disk.silenced_until is not None and disk.silenced_until > time.time() + 7000
    shown = same_in_every_format(wk, api, "alerts")  # acked and silenced states
    assert [a["acked_by"] for a in shown] == ["api:admin", None]


def _alert(redis_url: str, keys: Keys, key: str) -> alerts.AlertRecord:
    async def main() -> alerts.AlertRecord:
        r = client(redis_url)
        try:
            found = await alerts.get(r, keys, key)
        finally:
            await r.aclose()
        assert found is not None
        return found

    return asyncio.run(main())


def test_alerts_exit_codes_through_the_api(
    wk: Invoke, api: str, keys: Keys, redis_url: str
) -> None:
    raise_alerts(redis_url, keys, ALERTS[0])
    for prefix in ((), ("--api", api)):
        unknown = wk(*prefix, "alerts", "ack", "UNKNOWN", env=ADMIN)
        assert unknown.exit_code == 3, unknown.output
        assert "no active alert 'UNKNOWN'" in unknown.stderr
        gone = wk(*prefix, "alerts", "silence", "UNKNOWN", "--for", "1h", env=ADMIN)
        assert gone.exit_code == 3, gone.output
    weak = wk("--api", api, "alerts", "ack", "system.disk", env=VIEWER)
    assert weak.exit_code == 5 and "operator" in weak.stderr
    assert wk("--api", api, "--token", "nope", "alerts").exit_code == 5
    down = wk("--api", f"http://127.0.0.1:{free_port()}", "alerts", env=ADMIN)
    assert down.exit_code == 4 and "cannot reach the API" in down.stderr
    by = wk("--api", api, "alerts", "ack", "system.disk", "--by", "ana", env=ADMIN)
    assert by.exit_code == 2 and "token's name" in by.stderr
    assert _alert(redis_url, keys, "system.disk").acked_by is None  # nothing was sent


def _dead_letters(redis_url: str, keys: Keys) -> list[str]:
    """Three rejected triggers (oldest first) and one record from another namespace."""

    async def main() -> list[str]:
        r = client(redis_url)
        try:
            await r.xgroup_create(keys.triggers, SCHEDULER_GROUP, id="0", mkstream=True)
            for n in range(3):
                fields = encode(TriggerRun(task="ghost", reason=f"desk {n}"))
                entry_id = text(await r.xadd(keys.triggers, fields))  # type: ignore[arg-type]
                stored = (await r.xrange(keys.triggers, min=entry_id, max=entry_id))[0][1]
                entry = Entry(keys.triggers, entry_id, stored)
                await r.xreadgroup(SCHEDULER_GROUP, "t", {keys.triggers: ">"}, count=1)
                await dead_letter(r, keys, entry, SCHEDULER_GROUP, f"unknown task {n}", reader="t")
            await r.xadd(keys.dead, {"source": "elsewhere:stream:x", "orig_type": "x"})
            return [text(i) for i, _ in await r.xrange(keys.dead)]
        finally:
            await r.aclose()

    return asyncio.run(main())


def test_dead_letters_list_and_requeue_through_the_api(
    wk: Invoke, api: str, sync_r: redis.Redis, keys: Keys, redis_url: str
) -> None:
    first, second, third, foreign = _dead_letters(redis_url, keys)
    listed = same_in_every_format(wk, api, "dead-letters", "list")
    assert [d["id"] for d in listed] == [foreign, third, second, first]
    assert listed[1]["reason"] == "unknown task 2" and listed[1]["type"] == "trigger.run"
    assert len(same_in_every_format(wk, api, "dead-letters", "list", "--limit", "2")) == 2

    done = wk("--api", api, "dead-letters", "requeue", first, env=ADMIN)
    assert done.exit_code == 0, done.output
    new_id = done.stdout.split()[-1]
    assert sync_r.xrange(keys.triggers, min=new_id, max=new_id)  # back on its stream
    for prefix in ((), ("--api", api)):
        for args, code in (((first,), 3), (("abc",), 2), ((foreign,), 1)):
            refused = wk(*prefix, "dead-letters", "requeue", *args, env=ADMIN)
            assert refused.exit_code == code, (prefix, args, refused.output)
    weak = wk("--api", api, "dead-letters", "requeue", second, env=VIEWER)
    assert weak.exit_code == 5
    sync_r.xdel(keys.dead, foreign)
    every = wk("--api", api, "dead-letters", "requeue", "--all", env=ADMIN)
    assert every.exit_code == 0, every.output
    assert [line.split()[0] for line in every.stdout.splitlines()] == [second, third]
    assert sync_r.xlen(keys.dead) == 0


def _points(redis_url: str, keys: Keys, store_dir: Path, files: list[Path]) -> list[str]:
    """One rollback point per file (oldest first), each file changed after it."""

    async def main() -> list[RollbackPoint]:
        r, clock, made = client(redis_url), FakeClock(NOW), []
        try:
            for n, path in enumerate(files):
                clock.advance(60)
                point = await create_point(store_dir, {str(path): Preserve.COPY}, task="sweep",
                                           run_id=f"sweep:{n}", clock=clock)  # fmt: skip
                await PointStore(r, keys, store_dir, clock).save(point)
                made.append(point)
        finally:
            await r.aclose()
        return made

    points = asyncio.run(main())
    for path in files:
        path.write_text("cleaned away")
    return [p.id for p in points]


def test_rollbacks_list_verify_restore_prune_through_the_api(
    wk: Invoke, api: str, keys: Keys, redis_url: str, cfg: Path, sync_r: redis.Redis
) -> None:
    data = cfg.parent / "data"
    data.mkdir()
    files = [data / "a.parquet", data / "b.parquet"]
    for path in files:
        path.write_text(f"original {path.name}")
    older, newer = _points(redis_url, keys, cfg.parent / "rollbacks", files)
    listed = same_in_every_format(wk, api, "rollbacks", "list")
    assert [(p["id"], p["files"]) for p in listed] == [(newer, 1), (older, 1)]

    assert outputs(wk, api, "rollbacks", "verify", older) == (f"{older}: ok\n",) * 2
    weak = wk("--api", api, "rollbacks", "restore", older, env=VIEWER)
    assert weak.exit_code == 5 and files[0].read_text() == "cleaned away"
    restored = wk("--api", api, "rollbacks", "restore", older, "--reason", "bad glob", env=ADMIN)
    assert (restored.exit_code, restored.stdout) == (0, f"{older}: restored 1 file(s), removed 0\n")
    assert files[0].read_text() == "original a.parquet"
    record = sync_r.hgetall(keys.rollback(older))
    assert (record[b"restored_reason"], record[b"restored_by"]) == (b"bad glob", b"api:admin")

    for prefix in ((), ("--api", api)):
        for verb in ("verify", "restore"):
            missing = wk(*prefix, "rollbacks", verb, "nope", env=ADMIN)
            assert missing.exit_code == 3, (prefix, verb, missing.output)
    stored = next(p for p in (cfg.parent / "rollbacks" / newer).rglob("*") if p.is_file())
    stored.write_text("tampered")
    for prefix in ((), ("--api", api)):
        refused = wk(*prefix, "rollbacks", "restore", newer, env=ADMIN)
        assert refused.exit_code == 1 and files[1].read_text() == "cleaned away"

    pruned = wk("--api", api, "rollbacks", "prune", "--max-count", "1", env=ADMIN)
    assert (pruned.exit_code, pruned.stdout) == (0, f"pruned 1 rollback point(s)\n  {older}\n")
    assert [p["id"] for p in same_in_every_format(wk, api, "rollbacks", "list")] == [newer]


def test_cancel_through_the_api_stores_the_request_and_keeps_exit_codes(
    wk: Invoke, api: str, sync_r: redis.Redis, keys: Keys
) -> None:
    sync_r.zadd(keys.running("sweep"), {"sweep:9": NOW * 1000 + 600_000})  # an executor holds it
    sync_r.hset(keys.result("sweep:8"), mapping={"status": "succeeded"})
    direct, via_api = (
        wk(*prefix, "cancel", "sweep:9", "--reason", "stuck", "-o", "json", env=ADMIN)
        for prefix in ((), ("--api", api))
    )
    assert via_api.exit_code == direct.exit_code == 0, via_api.output
    assert via_api.stdout == direct.stdout
    assert sync_r.get(keys.cancel("sweep:9")) == b"api:admin (stuck)"
    for prefix in ((), ("--api", api)):
        for run_id, code in (("sweep:1", 3), ("sweep:8", 1)):
            refused = wk(*prefix, "cancel", run_id, env=ADMIN)
            assert refused.exit_code == code, (prefix, run_id, refused.output)
    assert wk("--api", api, "cancel", "sweep:9", env=VIEWER).exit_code == 5
