"""A JSON log line: what orjson writes, and what it refuses written by the standard library."""

from __future__ import annotations

import io
import json
import logging
from datetime import UTC, datetime

import structlog

from shared.runtime.logging import configure_logging, get_logger, json_line


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
