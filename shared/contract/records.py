"""The base of every record kept as a Redis hash: attribute names are the field names.

A record is a frozen, keyword-only dataclass whose fields are ``str`` (or a ``StrEnum``),
``int``, ``float``, ``bool`` or ``bytes``, optionally ``| None``. :meth:`HashRecord.to_fields`
gives the mapping to ``HSET`` (``None`` as ``''``, booleans as ``1``/``0``);
:meth:`HashRecord.from_fields` reads an ``HGETALL`` reply back (``''`` and absent
fields take the default; unknown fields are ignored, so adding a field stays
compatible). The field names therefore exist once: in the record class.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import MISSING, fields
from enum import StrEnum
from functools import cache
from typing import Any, Self

FieldValue = str | bytes | int | float
"""A value Redis stores in a hash field."""
Parser = Callable[[bytes | str], Any]


class RecordError(ValueError):
    """A stored hash that cannot become its record (a required field missing or garbled)."""


def as_text(value: bytes | str) -> str:
    """A Redis reply as text (replies are bytes; decode_responses is off)."""
    return value.decode() if isinstance(value, bytes) else value


def _as_bytes(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


def _as_bool(value: bytes | str) -> bool:
    return as_text(value) not in ("0", "false", "False")


_PARSERS: dict[Any, Parser] = {
    str: as_text,
    int: lambda v: int(float(as_text(v))),
    float: lambda v: float(as_text(v)),
    bool: _as_bool,
    bytes: _as_bytes,
}


def _parser(annotation: Any) -> Parser:
    if isinstance(annotation, types.UnionType):
        (annotation,) = [a for a in typing.get_args(annotation) if a is not type(None)]
    if isinstance(annotation, type) and issubclass(annotation, StrEnum):
        enum = annotation
        return lambda v: enum(as_text(v))
    return _PARSERS[annotation]


def _encode(value: Any) -> FieldValue:
    if value is None:
        return ""
    if value.__class__ is bool:  # bool has no subclasses: the cheap test (hot when recording)
        return int(value)
    return typing.cast(FieldValue, value)


class HashRecord:
    """Mixin for frozen dataclasses stored as one Redis hash (see the module docstring)."""

    __slots__ = ()
    _parsers: typing.ClassVar[dict[type, dict[str, Parser]]] = {}
    _names: typing.ClassVar[dict[type, tuple[str, ...]]] = {}

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """Every field of the hash, in declaration order."""
        # dataclasses.fields() builds its tuple anew on each call: hot when recording.
        names = HashRecord._names.get(cls)
        if names is None:
            names = HashRecord._names[cls] = tuple(f.name for f in fields(cls))  # type: ignore[arg-type]
        return names

    def to_fields(self) -> dict[str, FieldValue]:
        """The mapping to ``HSET``: every field, ``None`` as ``''``."""
        return {name: _encode(getattr(self, name)) for name in self.field_names()}

    @classmethod
    def pairs_from(cls, source: object, **given: Any) -> list[FieldValue]:
        """``[field, value, ...]`` for ``HSET`` of the record whose fields are ``given``
        and, for the others, ``source``'s attributes of the same names: the pairs of
        :meth:`to_fields` of that record (``given`` last), without building it (hot paths)."""
        pairs: list[FieldValue] = []
        for name in cls._names_besides(tuple(given)):
            value = getattr(source, name)  # _encode inlined: this loop runs per result
            pairs += (name, "" if value is None else int(value) if value.__class__ is bool
                      else value)  # fmt: skip
        for name, value in given.items():
            pairs += (name, _encode(value))
        return pairs

    @classmethod
    @cache
    def _names_besides(cls, given: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(name for name in cls.field_names() if name not in given)

    @classmethod
    def from_fields(cls, raw: Mapping[Any, Any]) -> Self:
        """Read an ``HGETALL`` reply; raises :class:`RecordError` naming what is wrong."""
        stored = {as_text(k): v for k, v in raw.items()}
        values: dict[str, Any] = {}
        for name, parse in cls._field_parsers().items():
            value = stored.get(name)
            if value is None or value in (b"", ""):
                continue
            try:
                values[name] = parse(value)
            except ValueError:
                raise RecordError(f"{cls.__name__}.{name}: cannot read {value!r}") from None
        missing = [f.name for f in fields(cls) if f.name not in values and _required(f)]  # type: ignore[arg-type]
        if missing:
            raise RecordError(f"{cls.__name__}: missing {', '.join(missing)}")
        return cls(**values)

    @classmethod
    def _field_parsers(cls) -> dict[str, Parser]:
        parsers = HashRecord._parsers.get(cls)
        if parsers is None:
            hints = typing.get_type_hints(cls)
            parsers = {name: _parser(hints[name]) for name in cls.field_names()}
            HashRecord._parsers[cls] = parsers
        return parsers


def _required(f: Any) -> bool:
    return f.default is MISSING and f.default_factory is MISSING
