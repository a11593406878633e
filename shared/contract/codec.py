"""Stream-entry codec: ``{type, v, body}`` with a msgpack map as body.

:func:`decode` is strict: any problem raises one :class:`EventDecodeError` whose
``reason`` a reader records when it dead-letters the entry.

Every service decodes every entry it reads (a run's trigger, due and result events are
decoded four times between them), so a body is first given to msgspec, which decodes and
checks it against the event class in C. Whatever msgspec refuses goes through the checked
path (:func:`_build`), which either names the problem or takes the body (msgspec is the
stricter: it also checks a ``dict[str, Any]``'s keys and a ``list[str]``'s items), so the
two build the same event from a body, or the same error. One difference: msgspec skips a
field the event type does not know without building it, so what it holds need only be
well-framed msgpack (building it, msgpack also refuses text that is not UTF-8 and an
array used as a map key).
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from dataclasses import MISSING, fields
from datetime import datetime
from typing import Any, Final, NamedTuple

import msgpack
import msgspec

from shared.contract.events import ENUM_FIELDS, EVENT_TYPES, SCHEMA_VERSION, Event

MAX_BODY_BYTES: Final = 256 * 1024
"""Bodies above this size are refused on both ends (a task's params are not a data channel)."""


class EventDecodeError(Exception):
    """An entry that cannot become an event; ``reason`` says why in plain words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class EventEncodeError(ValueError):
    """An event that cannot be put on the wire (e.g. its body is too large)."""


def pack(obj: Any) -> bytes:
    """msgpack with binary strings kept apart from text."""
    data: bytes = msgpack.packb(obj, use_bin_type=True)
    return data


def unpack(data: bytes) -> Any:
    """Inverse of :func:`pack`; raises msgpack/ValueError exceptions on garbage."""
    return msgpack.unpackb(data, raw=False, strict_map_key=False)


def event_body(event: Event) -> dict[str, Any]:
    """The event's fields as a plain map, ``None`` values left out."""
    return {name: value for name in _field_names(type(event))
            if (value := getattr(event, name)) is not None}  # fmt: skip


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _field_names(cls: type) -> tuple[str, ...]:
    # dataclasses.fields() rebuilds its tuple on every call: hot when emitting bursts.
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in fields(cls))
    return names


def encode(event: Event, *, max_body: int = MAX_BODY_BYTES) -> dict[str, bytes | str]:
    """Stream-entry fields for ``event``; raises :class:`EventEncodeError` when too large."""
    body = pack(event_body(event))
    if len(body) > max_body:
        raise EventEncodeError(
            f"{event.TYPE} body is {len(body)} bytes, above the {max_body}-byte limit"
        )
    return {"type": event.TYPE, "v": SCHEMA_VERSION, "body": body}


def _text(fields_: Mapping[Any, Any], name: str) -> str:
    raw = fields_.get(name, fields_.get(name.encode()))
    if raw is None:
        raise EventDecodeError(f"missing field {name!r}")
    if isinstance(raw, bytes):
        try:
            return raw.decode()
        except UnicodeDecodeError:
            raise EventDecodeError(f"field {name!r} is not UTF-8") from None
    return str(raw)


def _raw_body(fields_: Mapping[Any, Any], max_body: int) -> bytes:
    raw = fields_.get("body", fields_.get(b"body"))
    if raw is None:
        raise EventDecodeError("missing field 'body'")
    data = raw if isinstance(raw, bytes) else str(raw).encode()
    if len(data) > max_body:
        raise EventDecodeError(f"body is {len(data)} bytes, above the {max_body}-byte limit")
    return data


def decode(fields_: Mapping[Any, Any], *, max_body: int = MAX_BODY_BYTES) -> Event:
    """Turn stream-entry fields (bytes or str keys) into an event, or raise EventDecodeError."""
    type_name = _text(fields_, "type")
    cls = EVENT_TYPES.get(type_name)
    if cls is None:
        raise EventDecodeError(f"unknown event type {type_name!r}")
    version = _text(fields_, "v")
    if version != SCHEMA_VERSION:
        raise EventDecodeError(
            f"unsupported schema version {version!r} for {type_name} (this reader speaks "
            f"{SCHEMA_VERSION!r})"
        )
    data = _raw_body(fields_, max_body)
    event = _quick(cls, data)
    if event is not None:
        return event
    return _checked(cls, type_name, data)


def _quick(cls: type[Event], data: bytes) -> Event | None:
    """The event msgspec decodes from ``data``, or ``None`` when it refuses the body or a
    field's value is outside its closed set."""
    decoder, closed, loose = _fast(cls)
    try:
        event: Event = decoder.decode(data)
    except Exception:  # msgspec refuses in several ways (a DecodeError; a RecursionError
        return None  # when nested deep): the checked path names it, or takes the body
    for name, allowed in closed:
        value = getattr(event, name)
        if value is not None and value not in allowed:
            return None
    for name in loose:
        if not _as_unpacked(getattr(event, name)):
            return None
    return event


def _as_unpacked(value: Any) -> bool:
    """Whether free-form content (an ``Any`` field's) is what :func:`unpack` would have
    made of it: msgspec makes a timestamp extension a ``datetime`` (msgpack a
    ``Timestamp``) and an array used as a map key a tuple (msgpack refuses it)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, tuple) or not _as_unpacked(item):
                return False
        return True
    if isinstance(value, list):
        for item in value:
            if not _as_unpacked(item):
                return False
        return True
    return not isinstance(value, datetime)


def _checked(cls: type[Event], type_name: str, data: bytes) -> Event:
    """The body decoded and checked field by field: the event, or the error naming what
    is wrong."""
    try:
        body = unpack(data)
    except Exception as exc:  # msgpack raises several unrelated types on garbage
        raise EventDecodeError(f"body is not valid msgpack ({type(exc).__name__})") from None
    if not isinstance(body, dict):
        raise EventDecodeError(f"body of {type_name} is a {type(body).__name__}, not a map")
    return _build(cls, body)


class _Field(NamedTuple):
    """How one field of an event type is checked on decode (worked out once per type:
    decoding runs for every entry every service reads)."""

    name: str
    accepts: tuple[type, ...] | None
    """Types a value may have (``None``: any)."""
    no_bool: bool
    """A bool is refused although it is an int (the field is a number, not a flag)."""
    required: bool
    type_text: str
    allowed: tuple[str, ...] | None
    """The closed set a value must come from (``ENUM_FIELDS``), if any."""
    to_float: bool
    """An int is stored as a float (times, durations)."""


def _accepts(hint: Any) -> tuple[tuple[type, ...] | None, bool]:
    """(types, refuse bools) for a field annotation; ``None`` types accept anything."""
    if hint is Any:
        return None, False
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        parts = [_accepts(a) for a in typing.get_args(hint)]
        if any(accepts is None for accepts, _ in parts):
            return None, False
        union = tuple(t for accepts, _ in parts for t in accepts or ())
        return union, bool not in union and any(no_bool for _, no_bool in parts)
    if hint is type(None):
        return (type(None),), False
    base = origin or hint
    if base is float:
        return (int, float), True
    if base is int:
        return (int,), True
    return (base,), False


def _ext(code: int, data: memoryview) -> msgpack.ExtType:
    """An extension value as :func:`unpack` leaves it (an ``Any`` field may hold one)."""
    return msgpack.ExtType(code, bytes(data))


class _Fast(NamedTuple):
    """msgspec's decoder of one event type's bodies, and what it leaves to check."""

    decoder: msgspec.msgpack.Decoder[Any]
    closed: tuple[tuple[str, tuple[str, ...]], ...]
    """Fields whose values come from a closed set (``ENUM_FIELDS``), with the set:
    msgspec sees them as plain text."""
    loose: tuple[str, ...]
    """Fields of free-form content (``Any`` inside), checked by :func:`_as_unpacked`."""


_FAST: dict[str, _Fast] = {}


def _free_form(hint: Any) -> bool:
    """Whether values of a field annotation may hold anything (``Any`` within it)."""
    return hint is Any or any(_free_form(arg) for arg in typing.get_args(hint))


def _fast(cls: type[Event]) -> _Fast:
    """:class:`_Fast` of ``cls``, built once per type."""
    cached = _FAST.get(cls.TYPE)
    if cached is None:
        hints = typing.get_type_hints(cls)
        cached = _FAST[cls.TYPE] = _Fast(
            decoder=msgspec.msgpack.Decoder(cls, ext_hook=_ext),
            closed=tuple((f.name, ENUM_FIELDS[f.name]) for f in fields(cls)
                         if f.name in ENUM_FIELDS),
            loose=tuple(f.name for f in fields(cls) if _free_form(hints[f.name])),
        )  # fmt: skip
    return cached


_SPECS: dict[str, tuple[_Field, ...]] = {}


def _spec(cls: type[Event]) -> tuple[_Field, ...]:
    cached = _SPECS.get(cls.TYPE)
    if cached is None:
        cached = _SPECS[cls.TYPE] = _field_spec(cls)
    return cached


def _field_spec(cls: type[Event]) -> tuple[_Field, ...]:
    hints = typing.get_type_hints(cls)
    specs = []
    for f in fields(cls):
        accepts, no_bool = _accepts(hints[f.name])
        type_text = _type_name(hints[f.name])
        specs.append(_Field(
            name=f.name, accepts=accepts, no_bool=no_bool,
            required=f.default is MISSING and f.default_factory is MISSING,
            type_text=type_text, allowed=ENUM_FIELDS.get(f.name), to_float="float" in type_text,
        ))  # fmt: skip
    return tuple(specs)


def _type_name(hint: Any) -> str:
    if isinstance(hint, type):
        return hint.__name__
    return str(hint).replace("typing.", "")


def _build(cls: type[Event], body: dict[Any, Any]) -> Event:
    kwargs: dict[str, Any] = {}
    for name, accepts, no_bool, required, type_text, allowed, to_float in _spec(cls):
        if name not in body:
            if required:
                raise EventDecodeError(f"{cls.TYPE} body lacks required field {name!r}")
            continue
        value = body[name]
        if accepts is not None and (
            not isinstance(value, accepts) or (no_bool and value.__class__ is bool)
        ):
            raise EventDecodeError(
                f"{cls.TYPE} field {name!r} should be {type_text}, got {type(value).__name__}"
            )
        if allowed is not None and value is not None and value not in allowed:
            raise EventDecodeError(f"{cls.TYPE} field {name!r} is {value!r}, not one of {allowed}")
        kwargs[name] = float(value) if to_float and isinstance(value, int) else value
    return cls(**kwargs)
