"""``http_request``: call an HTTP(S) endpoint and check the answer.

For jobs such as a trading desk's own reconciliation or cache-warm endpoint: ``method``,
``headers``, a ``body`` (text) or ``json``, the ``expect_status`` codes (default: any
2xx), ``timeout_s``, and ``body_match`` (a regex the response must contain). Secret
headers (``Authorization``, ``X-Api-Key``, tokens…) are masked in the result, and their
values too wherever they would be echoed; the URL's credentials as well. Only ``http``
and ``https`` URLs are accepted.
"""

from __future__ import annotations

import re
from typing import Any, Final, Literal
from urllib.parse import urlsplit

import aiohttp
from pydantic import Field, field_validator, model_validator

from services.executor.handlers.base import HandlerError, Outcome, RunContext
from services.executor.handlers.kit import Params
from services.executor.handlers.registry import handler
from shared.runtime.logging import SECRET_KEY_RE, redact, redact_text

BODY_SHOWN: Final = 2048
Method = Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


class HttpRequestParams(Params):
    """The request to send and what counts as success."""

    url: str
    method: Method = "GET"
    headers: dict[str, str] = Field(default_factory=dict)
    body: str | None = None
    json_body: Any = Field(None, alias="json")
    expect_status: list[int] = Field(default_factory=list)
    body_match: str | None = None
    timeout_s: float = Field(30.0, gt=0, le=3600)
    verify_tls: bool = True
    follow_redirects: bool = False

    @field_validator("url")
    @classmethod
    def _http_only(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL with a host")
        return value

    @field_validator("body_match")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a regular expression: {exc}") from None
        return value

    @model_validator(mode="after")
    def _one_body(self) -> HttpRequestParams:
        if self.body is not None and self.json_body is not None:
            raise ValueError("give body or json, not both")
        return self


def _secrets(params: HttpRequestParams) -> list[str]:
    values = [v for k, v in params.headers.items() if SECRET_KEY_RE.search(k) or
              k.lower() in ("cookie", "x-auth", "proxy-authorization")]  # fmt: skip
    # "Bearer abc" is masked whole and as its token
    return values + [v.split(None, 1)[1] for v in values if " " in v.strip()]


def _shown_request(params: HttpRequestParams, secrets: list[str]) -> dict[str, Any]:
    headers = {k: "***" if v in secrets else redact_text(v, secrets)
               for k, v in params.headers.items()}  # fmt: skip
    return {"method": params.method, "url": redact_text(params.url, secrets),
            "headers": redact(headers, secrets)}  # fmt: skip


def _ok_status(status: int, expected: list[int]) -> bool:
    return status in expected if expected else 200 <= status < 300


async def _send(ctx: RunContext, params: HttpRequestParams) -> tuple[int, str, int, float]:
    timeout = aiohttp.ClientTimeout(total=params.timeout_s)
    started = ctx.clock.monotonic()
    async with aiohttp.ClientSession(timeout=timeout) as session, session.request(
        params.method, params.url, headers=params.headers, data=params.body,
        json=params.json_body, ssl=params.verify_tls, allow_redirects=params.follow_redirects,
    ) as response:  # fmt: skip
        raw = await response.read()
        return response.status, raw.decode(errors="replace"), len(raw), started


@handler("http_request", params=HttpRequestParams)
async def http_request(ctx: RunContext, params: HttpRequestParams) -> Outcome:
    """Send the request; an unexpected status or a body without ``body_match`` fails."""
    secrets = _secrets(params)
    shown = _shown_request(params, secrets)
    if ctx.dry_run:
        return Outcome(message=f"dry run: would {params.method} {shown['url']}", details=shown)
    async with ctx.step("request") as step:
        try:
            status, text, size, started = await _send(ctx, params)
        except (aiohttp.ClientError, TimeoutError) as exc:
            why = redact_text(str(exc) or type(exc).__name__, secrets)
            raise HandlerError(f"{params.method} {shown['url']} failed: {why}",
                               details={"request": shown}) from None  # fmt: skip
        step.count(bytes=size)
    latency_ms = round((ctx.clock.monotonic() - started) * 1000, 3)
    details = {"request": shown, "status": status, "body": redact_text(text[:BODY_SHOWN], secrets)}
    metrics = {"status": status, "latency_ms": latency_ms, "response_bytes": size,
               "items_processed": 1, "files_processed": 0, "bytes_freed": 0}  # fmt: skip
    if not _ok_status(status, params.expect_status):
        want = params.expect_status or "2xx"
        raise HandlerError(f"{params.method} {shown['url']} answered {status}, expected {want}",
                           details={**details, "metrics": metrics})  # fmt: skip
    if params.body_match is not None and not re.search(params.body_match, text):
        raise HandlerError(f"response body does not match {params.body_match!r}",
                           details={**details, "metrics": metrics})  # fmt: skip
    return Outcome(message=f"{params.method} {shown['url']} → {status}", details=details,
                   metrics=metrics)  # fmt: skip
