"""Dead letters (list, requeue to the source), rollback points (list, verify, restore
with a reason, tampering refused) through the API on real Redis and real files."""

from __future__ import annotations

import hashlib
from pathlib import Path

from shared.contract.codec import decode, encode
from shared.contract.events import TriggerRun
from shared.contract.keys import SCHEDULER_GROUP, Keys
from shared.runtime.clock import FakeClock
from shared.runtime.redis import Entry, Redis, dead_letter, text
from shared.runtime.rollbacks import PointStore, Preserve, create_point
from tests.api.support import running_api


async def test_dead_letters_list_and_requeue_to_their_source(r: Redis, keys: Keys) -> None:
    fields = encode(TriggerRun(task="hc", reason="from the desk"))
    entry_id = text(await r.xadd(keys.triggers, fields))  # type: ignore[arg-type]
    stored = (await r.xrange(keys.triggers))[0][1]
    await r.xgroup_create(keys.triggers, SCHEDULER_GROUP, id="0")
    await r.xreadgroup(SCHEDULER_GROUP, "test", {keys.triggers: ">"})  # pending, as read
    await dead_letter(
        r,
        keys,
        Entry(keys.triggers, entry_id, stored),
        SCHEDULER_GROUP,
        "unknown task 'hc'",
        reader="test",
    )
    await r.xadd(keys.dead, {"source": "elsewhere:stream:x", "orig_type": "x"})
    async with running_api(r, keys) as api:
        _, page, _ = await api.call("GET", "/api/v1/dead-letters?limit=1", role="viewer")
        [foreign] = page["items"]
        _, page, _ = await api.call("GET", f"/api/v1/dead-letters?before={page['next']}")
        [item] = page["items"]
        assert (item["source"], item["reason"], item["type"]) == (
            keys.triggers,
            "unknown task 'hc'",
            "trigger.run",
        )
        assert item["body"]["reason"] == "from the desk"
        status, body, _ = await api.call(
            "POST", f"/api/v1/dead-letters/{item['id']}/requeue", role="viewer"
        )
        assert status == 403
        status, body, _ = await api.call(
            "POST", f"/api/v1/dead-letters/{item['id']}/requeue", role="operator"
        )
        assert (status, body["stream"]) == (200, keys.triggers)
        requeued = await r.xrange(keys.triggers, min=body["new_id"], max=body["new_id"])
        assert decode(requeued[0][1]) == TriggerRun(task="hc", reason="from the desk")
        assert [text(i) for i, _ in await r.xrange(keys.dead)] == [foreign["id"]]
        status, body, _ = await api.call("POST", f"/api/v1/dead-letters/{foreign['id']}/requeue")
        assert status == 409  # never written to a stream outside this namespace
        assert await r.exists("elsewhere:stream:x") == 0
        status, body, _ = await api.call("POST", "/api/v1/dead-letters/abc/requeue")
        assert (status, body["error"]["details"]["field"]) == (400, "id")


async def test_rollbacks_list_verify_restore_with_reason(
    r: Redis, keys: Keys, tmp_path: Path
) -> None:
    store_dir, data = tmp_path / "rollbacks", tmp_path / "data"
    data.mkdir()
    target = data / "prices.parquet"
    target.write_bytes(b"original")
    clock = FakeClock()
    point = await create_point(
        store_dir, {str(target): Preserve.COPY}, task="clean", run_id="clean:1", clock=clock
    )
    await PointStore(r, keys, store_dir, clock).save(point)
    target.write_bytes(b"cleaned away")
    body = f"executor: {{rollback_dir: {store_dir}}}\n"
    async with running_api(r, keys, body, clock=clock) as api:
        _, listed, _ = await api.call("GET", "/api/v1/rollbacks")
        assert [(p["id"], p["task"], p["total_bytes"]) for p in listed["items"]] == [
            (point.id, "clean", 8)
        ]
        _, verified, _ = await api.call(
            "POST", f"/api/v1/rollbacks/{point.id}/verify", role="viewer"
        )
        assert verified == {"id": point.id, "ok": True, "problems": []}
        status, body_, _ = await api.call("POST", f"/api/v1/rollbacks/{point.id}/restore", json={})
        assert (status, body_["error"]["details"]["field"]) == (400, "reason")
        status, restored, _ = await api.call(
            "POST",
            f"/api/v1/rollbacks/{point.id}/restore",
            role="operator",
            json={"reason": "bad glob"},
        )
        assert (status, restored["restored"]) == (200, [str(target)])
        assert target.read_bytes() == b"original"
        _, shown, _ = await api.call("GET", f"/api/v1/rollbacks/{point.id}")
        assert (shown["restored_reason"], shown["restored_by"]) == ("bad glob", "api:operator")
        preserved = Path(point.files[0].stored)
        preserved.write_bytes(b"tampered")  # noqa: ASYNC240 (a test stands in for an attacker)
        _, verified, _ = await api.call("POST", f"/api/v1/rollbacks/{point.id}/verify")
        assert verified["ok"] is False and "does not match its checksum" in verified["problems"][0]
        target.write_bytes(b"changed again")
        status, refused, _ = await api.call(
            "POST", f"/api/v1/rollbacks/{point.id}/restore", json={"reason": "again"}
        )
        assert (status, refused["error"]["code"]) == (409, "conflict")
        assert target.read_bytes() == b"changed again"  # nothing touched
        assert hashlib.sha256(b"original").hexdigest() == point.files[0].sha256


async def test_rollbacks_pruned_by_the_given_limits_else_the_configs(
    r: Redis, keys: Keys, tmp_path: Path
) -> None:
    store_dir, clock = tmp_path / "rollbacks", FakeClock()
    made = []
    for n in range(3):
        target = tmp_path / f"f{n}.txt"
        target.write_text("x" * 10)
        clock.advance(60)
        point = await create_point(store_dir, {str(target): Preserve.COPY}, task="clean",
                                   run_id=f"clean:{n}", clock=clock)  # fmt: skip
        await PointStore(r, keys, store_dir, clock).save(point)
        made.append(point.id)
    body = f"executor: {{rollback_dir: {store_dir}, rollback_max_points: 2}}\n"
    async with running_api(r, keys, body, clock=clock) as api:
        path = "/api/v1/rollbacks/prune"
        status, _, _ = await api.call("POST", path, role="viewer", json={})
        assert status == 403
        status, pruned, _ = await api.call("POST", path, role="operator", json={})
        assert (status, pruned) == (200, {"removed": [made[0]]})  # the config keeps 2
        _, pruned, _ = await api.call("POST", path, json={"max_bytes": 10})
        assert pruned == {"removed": [made[1]]}  # the newest always stays
        status, reply, _ = await api.call("POST", path, json={"max_count": 0})
        assert (status, reply["error"]["details"]["field"]) == (400, "max_count")
    assert not (store_dir / made[0]).exists()


async def test_stored_reports_listed_and_fetched(r: Redis, keys: Keys) -> None:
    await r.set(keys.report("daily", "2027-01-14"), '{"kind": "daily", "runs": 3}')
    await r.set(keys.report("weekly", "2027-01-10"), '{"kind": "weekly"}')
    await r.set(keys.report_claim("daily", "2027-01-14"), "reporter-1")
    async with running_api(r, keys) as api:
        _, listed, _ = await api.call("GET", "/api/v1/reports", role="viewer")
        assert [(i["kind"], i["date"]) for i in listed["items"]] == [
            ("daily", "2027-01-14"),
            ("weekly", "2027-01-10"),
        ]
        status, report, _ = await api.call("GET", listed["items"][0]["url"])
        assert (status, report) == (200, {"kind": "daily", "runs": 3})
        status, body, _ = await api.call("GET", "/api/v1/reports/monthly/2027-01-14")
        assert (status, body["error"]["details"]["field"]) == (400, "kind")
        status, body, _ = await api.call("GET", "/api/v1/reports/daily/yesterday")
        assert (status, body["error"]["details"]["field"]) == (400, "date")
