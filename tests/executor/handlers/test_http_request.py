"""``http_request`` against a real local aiohttp server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from structlog.testing import capture_logs

from services.executor.handlers.base import HandlerError, ParamsError
from tests.executor.handlers.support import make_ctx, run_handler

TOKEN = "desk-canary-token-0123456789"


@pytest.fixture
async def desk() -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    """A desk service with a reconciliation endpoint; yields its URL and the calls it saw."""
    seen: list[dict[str, Any]] = []

    async def reconcile(request: web.Request) -> web.Response:
        body = await request.json() if request.can_read_body else None
        seen.append({"method": request.method, "auth": request.headers.get("Authorization"),
                     "body": body})  # fmt: skip
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return web.json_response({"error": "unauthorised"}, status=401)
        return web.json_response({"status": "reconciled", "breaks": 0, "echo": TOKEN})

    async def slow_teapot(_request: web.Request) -> web.Response:
        return web.Response(status=418, text="short and stout")

    app = web.Application()
    app.router.add_post("/ops/reconcile", reconcile)
    app.router.add_get("/teapot", slow_teapot)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}", seen
    await runner.cleanup()


async def test_success_sends_json_and_masks_the_token(
    desk: tuple[str, list[dict[str, Any]]],
) -> None:
    url, seen = desk
    params = {"url": f"{url}/ops/reconcile", "method": "POST",
              "headers": {"Authorization": f"Bearer {TOKEN}"}, "json": {"book": "EQ-US"},
              "body_match": '"breaks": 0'}  # fmt: skip
    ctx = make_ctx()
    with capture_logs() as logs:
        outcome = await run_handler("http_request", ctx, params)
    assert seen == [{"method": "POST", "auth": f"Bearer {TOKEN}", "body": {"book": "EQ-US"}}]
    assert outcome.metrics["status"] == 200
    assert outcome.details["request"]["headers"] == {"Authorization": "***"}
    assert '"reconciled"' in outcome.details["body"]
    assert TOKEN not in repr(outcome) + repr(logs) + repr(ctx.record())


async def test_status_mismatch_fails(desk: tuple[str, list[dict[str, Any]]]) -> None:
    url, _ = desk
    with pytest.raises(HandlerError, match=r"answered 401, expected 2xx") as caught:
        await run_handler("http_request", make_ctx(), {"url": f"{url}/ops/reconcile",
                                                       "method": "POST", "json": {}})  # fmt: skip
    assert caught.value.details["status"] == 401
    teapot = {"url": f"{url}/teapot", "expect_status": [418], "body_match": "stout"}
    assert (await run_handler("http_request", make_ctx(), teapot)).metrics["status"] == 418
    with pytest.raises(HandlerError, match=r"does not match 'spout'"):
        await run_handler("http_request", make_ctx(), {**teapot, "body_match": "spout"})


async def test_unreachable_fails_with_a_clear_message() -> None:
    closed = "http://127.0.0.1:1/health"
    with pytest.raises(HandlerError, match=r"^GET http://127\.0\.0\.1:1/health failed: "):
        await run_handler("http_request", make_ctx(), {"url": closed, "timeout_s": 5})


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"url": "file:///etc/passwd"}, "params.url: must be an http"),
        ({"url": "ftp://desk/x"}, "params.url: must be an http"),
        ({"url": "gopher://desk/x"}, "params.url: must be an http"),
        ({"url": "http:///nohost"}, "params.url: must be an http"),
        ({"url": "http://h/", "method": "TRACE"}, "params.method: "),
        ({"url": "http://h/", "body": "a", "json": {}}, "params: give body or json"),
        ({"url": "http://h/", "body_match": "("}, "params.body_match: not a regular"),
        ({"url": "http://h/", "retries": 3}, "params.retries: "),
    ],
)
async def test_bad_params_are_refused(params: dict[str, Any], field: str) -> None:
    with pytest.raises(ParamsError) as caught:
        await run_handler("http_request", make_ctx(), params)
    assert str(caught.value).startswith(field)
