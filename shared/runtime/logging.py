"""Structured logging, configured once at the entry point.

Pipeline: contextvars → level → ISO UTC timestamp → redaction → exception dict
(without locals, which could hold secrets) → JSON (or a console renderer on a TTY).
"""

from __future__ import annotations

import json as stdjson
import logging
import re
import sys
import time
from collections.abc import Iterable, MutableMapping
from functools import lru_cache
from typing import Any, Final, TextIO

import orjson
import structlog

SECRET_KEY_RE: Final = re.compile(
    r"(pass(word|wd)?|secret|token|api[_-]?key|authorization|credential|private[_-]?key|dsn)",
    re.IGNORECASE,
)
"""Field names whose values are never logged."""

_URL_CREDENTIALS_RE: Final = re.compile(
    r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^:/@\s]*):[^@/\s]+@"
)
_INLINE_SECRET_RE: Final = re.compile(
    r"(?P<key>(pass(word|wd)?|secret|token|api[_-]?key)\s*[=:]\s*)(?P<val>[^\s,;&\"']+)",
    re.IGNORECASE,
)
_BEARER_RE: Final = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+")
_MAYBE_SECRET_RE: Final = re.compile(r"://|pass|secret|token|api[_-]?key|bearer")
"""ASCII text whose lower case has none of these cannot match the three patterns above
(one scan, not three: every log line goes through here)."""
REDACTED: Final = "***"


def _may_hold_secret(text: str, secrets: tuple[str, ...]) -> bool:
    """False when :func:`redact_text` would return ``text`` unchanged (maybe True then too)."""
    return (not text.isascii() or _MAYBE_SECRET_RE.search(text.lower()) is not None
            or any(secret in text for secret in secrets))  # fmt: skip


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    """Mask URL credentials, ``key=value`` secrets, bearer tokens and known secret values."""
    if not text.isascii() or _MAYBE_SECRET_RE.search(text.lower()):
        text = _URL_CREDENTIALS_RE.sub(lambda m: f"{m['scheme']}{m['user']}:{REDACTED}@", text)
        text = _INLINE_SECRET_RE.sub(lambda m: f"{m['key']}{REDACTED}", text)
        text = _BEARER_RE.sub(lambda m: f"{m.group(1)}{REDACTED}", text)
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, REDACTED)
    return text


def redact(value: Any, secrets: Iterable[str] = ()) -> Any:
    """Return ``value`` with secrets masked, recursing into maps and lists."""
    known = tuple(secrets)
    if isinstance(value, str):
        return redact_text(value, known)
    if isinstance(value, dict):
        return {
            k: REDACTED if isinstance(k, str) and SECRET_KEY_RE.search(k) else redact(v, known)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return type(value)(redact(v, known) for v in value)
    return value


_PLAIN_TYPES: Final = frozenset({int, float, bool, type(None)})
"""Field types the redactor passes by without a look (exactly these types)."""


class Redactor:
    """structlog processor that masks secrets in every event field."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets: set[str] = set(secrets)

    def __call__(
        self, _logger: Any, _name: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        """Mask secret-named fields and secret-looking text in the others."""
        known = tuple(self.secrets)
        secret = _secret_names(tuple(event_dict))
        texts = []
        for key, value in event_dict.items():  # values replaced in place, no key added
            kind = type(value)
            if key in secret:
                event_dict[key] = REDACTED
            elif kind is str:
                texts.append(key)
            elif kind in _PLAIN_TYPES:
                continue  # a number, a flag or None holds no secret (most fields)
            elif isinstance(value, str):
                texts.append(key)
            elif isinstance(value, dict | list | tuple):
                event_dict[key] = redact(value, known)
        # Most lines hold no secret: one look at all their text rules that out.
        if texts and _may_hold_secret("\n".join([event_dict[k] for k in texts]), known):
            for key in texts:
                event_dict[key] = redact_text(event_dict[key], known)
        return event_dict


@lru_cache(maxsize=4096)
def _secret_names(keys: tuple[str, ...]) -> frozenset[str]:
    """Which of a line's field names hold secrets (a call site logs the same names on
    every line: looked up once per set of names)."""
    return frozenset(key for key in keys if SECRET_KEY_RE.search(key))


REDACTOR: Final = Redactor()
"""The process-wide redactor; :func:`add_secrets` teaches it configured secret values."""


def add_secrets(values: Iterable[str]) -> None:
    """Register literal secret values (tokens, passwords from config) to mask everywhere."""
    REDACTOR.secrets.update(v for v in values if v)


def json_line(event_dict: Any, **kw: Any) -> str:
    """One log line's JSON (orjson: the executor writes a line per run, and the standard
    library's encoder was about a third of a line's cost); what orjson refuses (an
    integer past 64 bits) goes through :mod:`json`, and what both refuse (a tuple as a
    key) is written as its ``repr``: logging never raises."""
    try:
        return orjson.dumps(event_dict, default=kw.get("default"),
                            option=orjson.OPT_NON_STR_KEYS).decode()  # fmt: skip
    except orjson.JSONEncodeError:
        return _stdlib_line(event_dict, **kw)


def _stdlib_line(event_dict: Any, **kw: Any) -> str:
    """The line through :mod:`json`; top-level fields as their ``repr`` if it refuses too."""
    try:
        return stdjson.dumps(event_dict, **kw)
    except (TypeError, ValueError):
        return stdjson.dumps({str(key): value if type(value) in _SCALARS else repr(value)
                              for key, value in event_dict.items()})  # fmt: skip


_SCALARS: Final = frozenset({str, int, float, bool, type(None)})


class UtcStamper:
    """structlog processor: ``timestamp`` in ISO 8601 UTC with microseconds
    (``2026-12-01T15:31:14.002920Z``), the date and time formatted once per second
    (structlog's ``TimeStamper`` builds a ``datetime`` and formats it on every line)."""

    def __init__(self) -> None:
        self._second: tuple[int, str] = (-1, "")  # one attribute: threads see a whole pair

    def __call__(
        self, _logger: Any, _name: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        now, micros = divmod(round(time.time() * 1_000_000), 1_000_000)
        second, text = self._second
        if now != second:
            text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now))
            self._second = (now, text)
        event_dict["timestamp"] = f"{text}.{micros:06d}Z"
        return event_dict


def configure_logging(
    *, level: str = "INFO", json: bool | None = None, stream: TextIO | None = None
) -> None:
    """Configure structlog and route stdlib logging through it. Call once per process."""
    out = stream or sys.stderr
    use_json = (not out.isatty()) if json is None else json
    renderer: Any = (
        structlog.processors.JSONRenderer(serializer=json_line)
        if use_json
        else structlog.dev.ConsoleRenderer(colors=out.isatty())
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        UtcStamper(),
        REDACTOR,
    ]
    exc = structlog.processors.ExceptionRenderer(
        structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
    )
    structlog.configure(
        processors=[*shared, exc, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        # One write per line (print() writes the text and its newline apart).
        logger_factory=structlog.WriteLoggerFactory(out),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name, exc],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


def get_logger(name: str | None = None, **bound: Any) -> Any:
    """A structlog logger, optionally with bound fields."""
    return structlog.get_logger(name).bind(**bound) if bound else structlog.get_logger(name)
