"""The wire codec: every event round-trips; bad entries are named precisely."""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.contract.codec import MAX_BODY_BYTES, EventDecodeError, EventEncodeError, decode, encode
from shared.contract.events import ENUM_FIELDS, EVENT_TYPES, Event, TaskDue

_scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**53), 2**53), st.text(max_size=20))
_json = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
_floats = st.floats(allow_nan=False, allow_infinity=False, width=64)


def _strategy_for(name: str, hint: Any) -> st.SearchStrategy[Any]:
    if name in ENUM_FIELDS:
        return st.sampled_from(ENUM_FIELDS[name])
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, __import__("types").UnionType):
        return st.one_of(*(_strategy_for(name, a) for a in args))
    table: dict[Any, st.SearchStrategy[Any]] = {
        str: st.text(max_size=30), int: st.integers(0, 10**9), float: _floats,
        bool: st.booleans(), type(None): st.none(),
        dict: st.dictionaries(st.text(max_size=10), _json, max_size=4),
        list: st.lists(st.text(max_size=10), max_size=4),
    }  # fmt: skip
    return table[origin or hint]


def _events(cls: type[Event]) -> st.SearchStrategy[Event]:
    hints = typing.get_type_hints(cls)
    fields = {f.name: _strategy_for(f.name, hints[f.name]) for f in dataclasses.fields(cls)}
    return st.builds(cls, **fields)


any_event = st.one_of(*(_events(cls) for cls in EVENT_TYPES.values()))


@settings(max_examples=300, deadline=None)
@given(any_event)
def test_every_event_round_trips(event: Event) -> None:
    fields = encode(event)
    as_redis_returns = {
        k.encode(): v if isinstance(v, bytes) else v.encode() for k, v in fields.items()
    }
    assert decode(as_redis_returns) == event


def _due_body(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "run_id": "t:1", "task": "t", "handler": "h", "params": {}, "trigger": "manual",
        "scheduled_for": 1.0, "emitted_at": 1.0, "attempt": 1, "max_attempts": 1,
        "timeout_s": 5.0, "priority": "high",
    }  # fmt: skip
    body.update(over)
    return body


def _entry(
    type_: str = "task.due", v: str = "1", body: Any = None, raw: bytes | None = None
) -> dict[bytes, bytes]:
    packed = raw if raw is not None else msgpack.packb(_due_body() if body is None else body)
    return {b"type": type_.encode(), b"v": v.encode(), b"body": packed}


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        (_entry(raw=b"\xc1\xff garbage"), "not valid msgpack"),
        (_entry(v="2"), "unsupported schema version '2'"),
        (_entry(type_="task.exploded"), "unknown event type 'task.exploded'"),
        (_entry(body=[1, 2, 3]), "is a list, not a map"),
        (_entry(body=_due_body(attempt="one")), "field 'attempt' should be int, got str"),
        (_entry(body=_due_body(priority="urgent")), "field 'priority' is 'urgent'"),
        (
            _entry(body={k: v for k, v in _due_body().items() if k != "task"}),
            "lacks required field 'task'",
        ),
        (_entry(raw=b"x" * (MAX_BODY_BYTES + 1)), "above the 262144-byte limit"),
        ({b"v": b"1", b"body": b"\x80"}, "missing field 'type'"),
    ],
)
def test_bad_entries_raise_one_error_with_the_reason(
    entry: dict[bytes, bytes], reason: str
) -> None:
    with pytest.raises(EventDecodeError) as info:
        decode(entry)
    assert reason in info.value.reason


def test_int_times_are_accepted_as_floats() -> None:
    event = decode(_entry(body=_due_body(scheduled_for=10)))
    assert isinstance(event, TaskDue)
    assert event.scheduled_for == 10.0
    assert isinstance(event.scheduled_for, float)


def test_oversized_event_is_refused_on_encode() -> None:
    huge = TaskDue(**{**_due_body(), "params": {"blob": "x" * MAX_BODY_BYTES}})
    with pytest.raises(EventEncodeError, match="above the 262144-byte limit"):
        encode(huge)
