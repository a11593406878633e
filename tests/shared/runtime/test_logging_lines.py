"""A JSON log line: what orjson writes, and what it refuses written by the standard library."""

from __future__ import annotations

import io
import json
import logging
import re
import time
from datetime import UTC, datetime

import pytest
import structlog

from shared.runtime.logging import UtcStamper, configure_logging, get_logger, json_line


def _lines(**fields: object) -> list[dict[str, object]]:
    out = io.StringIO()
    configure_logging(level="INFO", json=True, stream=out)
    try:
        get_logger("t").info("event", **fields)
        get_logger("t").debug("below the level")
        return [json.loads(line) for line in out.getvalue().splitlines()]
    finally:
        structlog.reset_defaults()
        logging.getLogger().handlers.clear()


def test_a_line_holds_every_field_with_its_type() -> None:
    [line] = _lines(run_id="db:1", attempt=2, duration_s=0.125, ok=True, gone=None,
                    tags=["a", "b"], nested={"n": 1}, text="naïve – ünïcode")  # fmt: skip
    assert line["event"] == "event" and line["level"] == "info"
    assert (line["run_id"], line["attempt"], line["duration_s"]) == ("db:1", 2, 0.125)
    assert (line["ok"], line["gone"], line["tags"], line["nested"]) == (True, None, ["a", "b"],
                                                                         {"n": 1})  # fmt: skip
    assert line["text"] == "naïve – ünïcode"
    [line] = _lines(when=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    assert line["when"] == "2026-01-02T03:04:05+00:00"
    assert datetime.fromisoformat(line["timestamp"]).tzinfo is not None


def test_what_orjson_refuses_is_written_by_the_standard_library() -> None:
    huge = 2**70  # past 64 bits: orjson raises, json writes it
    [line] = _lines(count=huge, task="db")
    assert (line["count"], line["task"]) == (huge, "db")


def test_a_line_neither_encoder_takes_is_written_with_reprs() -> None:
    [line] = _lines(keyed={(1, 2): "tuple key"}, count=3, event_id="e")
    assert line["keyed"] == repr({(1, 2): "tuple key"})
    assert (line["count"], line["event_id"], line["event"]) == (3, "e", "event")


def test_objects_without_json_form_are_written_as_their_repr() -> None:
    class Thing:
        def __repr__(self) -> str:
            return "<thing 7>"

    assert json.loads(json_line({"x": Thing()}, default=repr)) == {"x": "<thing 7>"}
    [line] = _lines(x=Thing(), numbers={1: "one"})
    assert line["x"] == "<thing 7>"
    assert line["numbers"] == {"1": "one"}


def test_the_timestamp_is_utc_with_microseconds_and_follows_each_second(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stamp = UtcStamper()
    before = datetime.now(UTC)
    [line] = _lines()
    written = datetime.fromisoformat(line["timestamp"])  # type: ignore[arg-type]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", str(line["timestamp"]))
    assert before <= written <= datetime.now(UTC)
    # The date and time are kept for a second: each instant still gets its own.
    for now, text in ((1796140074.999999, "2026-12-01T15:47:54.999999Z"),
                      (1796140075.000001, "2026-12-01T15:47:55.000001Z"),
                      (1796140075.5, "2026-12-01T15:47:55.500000Z"),
                      (1796140070.25, "2026-12-01T15:47:50.250000Z")):  # fmt: skip
        monkeypatch.setattr(time, "time", lambda now=now: now)
        assert stamp(None, "info", {})["timestamp"] == text
