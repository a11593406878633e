"""Cancelling a run end to end: the API (or the CLI) stores the request, a real executor
in-process cancels the handler within a liveness tick and publishes exactly one
``cancelled`` result, acked; a finished run is a 409, an unknown one a 404."""

from __future__ import annotations

from pathlib import Path

from services.reporter.service import Reporter
from shared.config.models import Config
from shared.contract.keys import Keys
from shared.runtime.redis import Redis
from tests.api.support import running_api
from tests.executor.executor_support import (
    make_due,
    pending_count,
    publish_due,
    serving_executor,
    started,
    wait_results,
)


async def test_a_running_run_cancelled_through_the_api_ends_cancelled_once(
    r: Redis, keys: Keys, tmp_path: Path
) -> None:
    due = make_due("t_sleep", params={"seconds": 60})
    async with running_api(r, keys) as api, serving_executor(r, keys, tmp_path):
        await publish_due(r, keys, due)
        await started(r, keys, due.run_id)
        status, body, _ = await api.call(
            "POST", f"/api/v1/runs/{due.run_id}/cancel", role="operator", json={"reason": "stuck"}
        )
        assert (status, body) == (202, {"run_id": due.run_id, "status": "cancel_requested"})
        [result] = await wait_results(r, keys, 1, timeout_s=10)
        assert (result.run_id, result.status) == (due.run_id, "cancelled")
        by = "cancelled on request of api:operator (stuck)"
        assert result.error == {"type": "Cancelled", "message": by}
        assert await pending_count(r, keys) == 0
    assert len(await r.xrange(keys.results)) == 1  # nothing more after the executor stopped


async def test_cancel_of_a_finished_run_is_409_and_of_an_unknown_one_404(
    r: Redis, keys: Keys, tmp_path: Path
) -> None:
    due = make_due("t_sleep", params={"seconds": 0})
    async with running_api(r, keys) as api, serving_executor(r, keys, tmp_path):
        await publish_due(r, keys, due)
        [result] = await wait_results(r, keys, 1)
        await Reporter(r, Config(namespace=keys.ns)).record(result)
        status, body, _ = await api.call("POST", f"/api/v1/runs/{due.run_id}/cancel")
        assert (status, body["error"]["code"]) == (409, "conflict"), body
        assert "already finished (succeeded)" in body["error"]["message"]
        status, body, _ = await api.call("POST", "/api/v1/runs/nope:1/cancel")
        assert (status, body["error"]["code"]) == (404, "not_found")
    assert not await r.exists(keys.cancel(due.run_id), keys.cancel("nope:1"))
