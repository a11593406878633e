"""Redis glob patterns (as SCAN MATCH reads them), pure: prefixes, captures, references.

Used by ``cache_cleanup`` to tell whether a pattern could reach Watchkeeper's own keys and
to turn ``session:*`` + ``user:{1}`` into the key each session refers to.
"""

from __future__ import annotations

import re
from typing import Final

_SPECIAL: Final = "*?["
_PLACEHOLDER = re.compile(r"\{(\d+)\}")


def literal_prefix(pattern: str) -> str:
    """The text every key matching ``pattern`` starts with (up to the first wildcard)."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            out.append(pattern[i + 1])
            i += 2
            continue
        if char in _SPECIAL:
            break
        out.append(char)
        i += 1
    return "".join(out)


def may_match_prefix(pattern: str, prefix: str) -> bool:
    """True if some key starting with ``prefix`` could match ``pattern`` (conservative).

    Only the pattern's literal prefix is compared, so ``*`` or ``m?int*`` count as
    reaching every namespace: a false alarm is cheap, a deleted stream is not.
    """
    literal = literal_prefix(pattern)
    return prefix.startswith(literal) or literal.startswith(prefix)


def _class_regex(body: str) -> str:
    negate = body.startswith("^")
    inner = "".join("-" if c == "-" else re.escape(c) for c in body[negate:])
    return f"[{'^' if negate else ''}{inner}]"


def glob_regex(pattern: str) -> re.Pattern[str]:
    """A regex matching what ``pattern`` matches; each ``*`` is a capture group, in order."""
    parts: list[str] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        end = pattern.find("]", i + 2) if char == "[" else -1
        if char == "\\" and i + 1 < len(pattern):
            parts.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        if char == "*":
            parts.append("(.*?)")
        elif char == "?":
            parts.append(".")
        elif end != -1:
            parts.append(_class_regex(pattern[i + 1 : end]))
            i = end + 1
            continue
        else:
            parts.append(re.escape(char))
        i += 1
    return re.compile("".join(parts) + r"\Z", re.DOTALL)


def star_count(pattern: str) -> int:
    """How many capture groups (``*`` wildcards) :func:`glob_regex` gives ``pattern``."""
    return glob_regex(pattern).groups


def placeholders(template: str) -> list[int]:
    """The ``{n}`` numbers in a reference template, in order."""
    return [int(n) for n in _PLACEHOLDER.findall(template)]


def reference_for(key: str, pattern: re.Pattern[str], template: str) -> str | None:
    """The key ``key`` refers to (``{n}`` = the n-th ``*``'s text); None if it does not match."""
    match = pattern.match(key)
    if match is None:
        return None
    groups = match.groups()
    return _PLACEHOLDER.sub(lambda m: groups[int(m[1]) - 1], template)
