"""The wire codec: every event round-trips; bad entries are named precisely."""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.contract.codec import (
    MAX_BODY_BYTES,
    EventDecodeError,
    EventEncodeError,
    _checked,
    decode,
    encode,
)
from shared.contract.events import ENUM_FIELDS, EVENT_TYPES, Event, TaskDue, TriggerRun

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


# -- msgspec's fast path and the checked path accept the same bodies -------------------
_anything = st.recursive(
    st.one_of(
        _scalars, _floats, st.binary(max_size=8), st.integers(-(2**63), 2**64 - 1),
        st.builds(msgpack.Timestamp, st.integers(0, 2**32), st.integers(0, 999_999_999)),
        st.builds(msgpack.ExtType, st.integers(0, 127), st.binary(max_size=4)),
    ),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.one_of(st.text(max_size=4), st.integers(0, 9), st.none(),
                                    st.tuples(st.integers(0, 9))), inner, max_size=3)
    ),
    max_leaves=10,
)  # fmt: skip


@st.composite
def _bodies(draw: st.DrawFn) -> tuple[str, dict[Any, Any]]:
    """A body of some event type: each field valid, of another type, or left out, and
    keys the type does not know (with plain content: see the test after the next)."""
    cls = draw(st.sampled_from(list(EVENT_TYPES.values())))
    hints = typing.get_type_hints(cls)
    body: dict[Any, Any] = {}
    for f in dataclasses.fields(cls):
        choice = draw(st.integers(0, 9))
        if choice < 6:
            body[f.name] = draw(_strategy_for(f.name, hints[f.name]))
        elif choice < 9:
            body[f.name] = draw(_anything)
    unknown = st.text(max_size=6).filter(lambda key: key not in hints)
    body.update(draw(st.dictionaries(unknown, _json, max_size=2)))
    return cls.TYPE, body


def _outcome(decoder: Any) -> str:
    try:
        return "event " + repr(decoder())  # repr: 1 and 1.0 differ, NaN equals itself
    except EventDecodeError as exc:
        return "error " + exc.reason


@settings(max_examples=600, deadline=None)
@given(_bodies())
def test_the_fast_path_decodes_every_body_as_the_checked_path_does(
    typed: tuple[str, dict[Any, Any]],
) -> None:
    type_name, body = typed
    data = msgpack.packb(body, use_bin_type=True)
    entry = {b"type": type_name.encode(), b"v": b"1", b"body": data}
    checked = _outcome(lambda: _checked(EVENT_TYPES[type_name], type_name, data))
    assert _outcome(lambda: decode(entry)) == checked


@pytest.mark.parametrize(
    ("params", "outcome"),
    [
        (b"\x81\xa1t\xd6\xff\x00\x00\x00\x01", "Timestamp(seconds=1"),  # a timestamp ext
        (b"\x81\xa1x\x81\x92\x01\x02\x03", "not valid msgpack (TypeError)"),  # [1, 2] as a key
        (b"\x81\x01\x02", "params={1: 2}"),  # an int key msgspec refuses in dict[str, Any]
        (b"\x81\xa1x" + b"\x91" * 100_000 + b"\xc0", "not valid msgpack"),  # nested deep
    ],
)
def test_bodies_msgspec_reads_otherwise_take_the_checked_path(params: bytes, outcome: str) -> None:
    data = b"\x82\xa4task\xa1a\xa6params" + params
    assert outcome in _outcome(lambda: decode({b"type": b"trigger.run", b"v": b"1", b"body": data}))


def test_a_field_the_type_does_not_know_is_skipped_whatever_it_holds() -> None:
    # msgspec skips it without building it (the checked path built it, and refused text
    # that is not UTF-8 or an array as a map key there); the event is the same.
    for content in (b"\xa2\xff\xfe", b"\x81\x92\x01\x02\x03"):
        data = b"\x82\xa4task\xa1a\xa5extra" + content
        event = decode({b"type": b"trigger.run", b"v": b"1", b"body": data})
        assert event == TriggerRun(task="a")
    with pytest.raises(EventDecodeError, match="not valid msgpack"):  # still framed msgpack
        decode({b"type": b"trigger.run", b"v": b"1", b"body": b"\x82\xa4task\xa1a\xa5extra\xc1"})
