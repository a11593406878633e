"""``watchkeeper cancel RUN_ID``: ask the executor holding an unfinished run to cancel it.

The request is the same one the API stores (:mod:`shared.contract.cancel`); the run then
ends with a ``cancelled`` result; with ``--api`` the request goes through
``POST /api/v1/runs/{run_id}/cancel``, which stores the same one. Exit codes: 0 requested,
3 no such run, 1 the run had already finished.
"""

from __future__ import annotations

from urllib.parse import quote

import click

from services.cli.api_client import ApiClient
from services.cli.config import CONFIG_OPTION, load, with_backend
from services.cli.exits import CliError, NotFound
from services.cli.output import emit, output_option
from services.cli.publish import requester
from shared.contract.cancel import CancelAnswer, request_cancel
from shared.contract.keys import Keys
from shared.runtime.redis import Redis


@click.command("cancel")
@CONFIG_OPTION
@click.argument("run_id")
@click.option("--reason", default=None, help="Why (kept in the run's result message).")
@output_option
def cancel_command(config_path: str | None, run_id: str, reason: str | None, output: str) -> None:
    """Cancel an unfinished run (its handler is stopped; the result says cancelled)."""
    config = load(config_path).config
    who = requester() if reason is None else f"{requester()} ({reason})"

    async def ask(r: Redis, k: Keys) -> CancelAnswer:
        return await request_cancel(r, k, run_id, who)

    async def via_api(api: ApiClient) -> CancelAnswer:
        # 404 (unknown) exits 3 and 409 (finished) exits 1, with the same message.
        await api.post(f"/api/v1/runs/{quote(run_id, safe='')}/cancel", {"reason": reason})
        return CancelAnswer(run_id, "requested")

    answer = with_backend(config, ask, via_api)
    if answer.verdict == "unknown":
        raise NotFound(answer.message())
    if answer.verdict == "finished":
        raise CliError(answer.message())
    emit({"run_id": run_id, "status": "cancel_requested"}, output, lambda _: answer.message())
