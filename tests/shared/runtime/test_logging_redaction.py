"""Secrets never reach the logs: by field name, inline, in URLs, or as known values."""

from __future__ import annotations

import io
import json
import logging

import structlog
from hypothesis import given
from hypothesis import strategies as st

from shared.runtime import logging as logging_module
from shared.runtime.logging import REDACTED, add_secrets, configure_logging, get_logger, redact_text


def _capture(**fields: object) -> dict[str, object]:
    out = io.StringIO()
    configure_logging(level="DEBUG", json=True, stream=out)
    try:
        get_logger("t").info("event", **fields)
        return dict(json.loads(out.getvalue().strip().splitlines()[-1]))
    finally:
        structlog.reset_defaults()
        logging.getLogger().handlers.clear()


def test_secret_named_fields_are_masked() -> None:
    line = _capture(password="hunter2", api_key="abc123", token="t0k", user="alice")
    assert (line["password"], line["api_key"], line["token"]) == (REDACTED,) * 3
    assert line["user"] == "alice"


def test_urls_inline_pairs_and_bearer_tokens_are_masked() -> None:
    line = _capture(
        url="redis://default:s3cret@db:6379/0",
        cmd="deploy --password=hunter2 now",
        header="Authorization: Bearer abc.def.ghi",
        nested={"dsn": "postgresql://u:pw@h/db", "items": ["secret=xyz"]},
    )
    text = json.dumps(line)
    for leaked in ("s3cret", "hunter2", "abc.def.ghi", ":pw@", "xyz"):
        assert leaked not in text
    assert line["url"] == f"redis://default:{REDACTED}@db:6379/0"


def test_configured_secret_values_are_masked_anywhere() -> None:
    add_secrets(["Zq8-very-private-token"])
    line = _capture(message="sent with Zq8-very-private-token attached")
    assert "Zq8-very-private-token" not in json.dumps(line)


def test_exceptions_are_rendered_without_locals() -> None:
    out = io.StringIO()
    configure_logging(level="INFO", json=True, stream=out)
    try:
        try:
            secret_local = "do-not-log-me"
            raise RuntimeError("boom " + secret_local[:0])
        except RuntimeError:
            get_logger("t").exception("failed")
        line = json.loads(out.getvalue().strip().splitlines()[-1])
    finally:
        structlog.reset_defaults()
        logging.getLogger().handlers.clear()
    assert line["exception"][0]["exc_type"] == "RuntimeError"
    assert "do-not-log-me" not in json.dumps(line)


def test_stdlib_logging_goes_through_the_same_pipeline() -> None:
    out = io.StringIO()
    configure_logging(level="INFO", json=True, stream=out)
    try:
        logging.getLogger("lib").warning("connecting to redis://u:pa55@h:1")
        line = json.loads(out.getvalue().strip().splitlines()[-1])
    finally:
        structlog.reset_defaults()
        logging.getLogger().handlers.clear()
    assert "pa55" not in line["event"]
    assert line["level"] == "warning"


def test_redact_text_leaves_plain_text_alone() -> None:
    assert redact_text("disk at 91% on /data") == "disk at 91% on /data"


_SECRETISH = st.sampled_from(["://", "u:pw@", "PASS", "Secret", "toKen", "api-key", "API_KEY",
                              "bearer ", "=", ": ", " ", "x", "é", "ſ"])  # fmt: skip


@given(st.lists(st.one_of(_SECRETISH, st.text(max_size=6)), max_size=8).map("".join))
def test_the_one_scan_shortcut_masks_exactly_what_the_three_patterns_mask(text: str) -> None:
    """Text the shortcut lets through unchanged would be unchanged by the full patterns."""
    assert redact_text(text) == _redacted_by_every_pattern(text)


def _redacted_by_every_pattern(text: str) -> str:
    text = logging_module._URL_CREDENTIALS_RE.sub(
        lambda m: f"{m['scheme']}{m['user']}:{REDACTED}@", text
    )
    text = logging_module._INLINE_SECRET_RE.sub(lambda m: f"{m['key']}{REDACTED}", text)
    return logging_module._BEARER_RE.sub(lambda m: f"{m.group(1)}{REDACTED}", text)
