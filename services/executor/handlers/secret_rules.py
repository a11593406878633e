"""Secret detection in text lines, pure: which rule, where, and a fingerprint — never the value.

A finding carries the rule, severity, line, column, the secret's length and the first 12
hex digits of its SHA-256 (enough to tell two leaks of the same key apart, useless to
recover it). Values already masked (``***``, ``<redacted>``, ``${VAR}``) are not findings.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True, slots=True)
class SecretRule:
    """A named pattern; group 1 (or the whole match without groups) is the secret."""

    name: str
    severity: str
    regex: re.Pattern[str]


@dataclass(frozen=True, slots=True)
class SecretHit:
    """One secret found on one line (the secret itself is not kept)."""

    rule: str
    severity: str
    column: int
    length: int
    fingerprint: str


def _rule(name: str, severity: str, pattern: str) -> SecretRule:
    return SecretRule(name, severity, re.compile(pattern))


RULES: Final = (
    _rule("private_key", "critical", r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"),
    _rule("aws_access_key_id", "critical", r"\b((?:AKIA|ASIA)[0-9A-Z]{16})\b"),
    _rule("aws_secret_access_key", "critical",
          r"(?i)aws_?secret_?(?:access_?)?key[\"']?\s*[=:]\s*[\"']?([A-Za-z0-9/+=]{40})"),
    _rule("github_token", "high", r"\b(gh[pousr]_[A-Za-z0-9]{36,})\b"),
    _rule("slack_token", "high", r"\b(xox[abposr]-[A-Za-z0-9-]{10,})"),
    _rule("password_in_url", "high", r"\b[a-z][a-z0-9+.-]*://[^:/@\s]+:([^@/\s]+)@"),
    _rule("jwt", "medium", r"\b(eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,})"),
    _rule("bearer_token", "medium", r"(?i)\bbearer\s+([A-Za-z0-9._~+/=-]{16,})"),
    _rule("generic_secret", "medium",
          r"(?i)\b(?:api[_-]?key|secret|token|passw(?:or)?d)[\"']?\s*[=:]\s*[\"']?"
          r"([^\s\"',;&]{8,})"),
)  # fmt: skip
"""Rules, most specific first: where two overlap on a line, the first one reports it."""

_MASKED = re.compile(r"(?i)^(?:[*x.#-]+|.*redacted.*|\$\{[^}]*\}?|<[^>]*>)$")


def fingerprint(secret: str) -> str:
    """A short, one-way tag of ``secret`` (SHA-256 prefix)."""
    return hashlib.sha256(secret.encode()).hexdigest()[:12]


def scan_line(line: str, rules: tuple[SecretRule, ...] = RULES) -> list[SecretHit]:
    """Every secret on ``line``; overlapping matches are reported once (by the first rule)."""
    hits: list[SecretHit] = []
    taken: list[tuple[int, int]] = []
    for rule in rules:
        for match in rule.regex.finditer(line):
            group = 1 if rule.regex.groups else 0
            start, end = match.span(group)
            secret = match[group]
            if _MASKED.match(secret) or any(s < end and start < e for s, e in taken):
                continue
            taken.append((start, end))
            hits.append(SecretHit(rule.name, rule.severity, start + 1, end - start,
                                  fingerprint(secret)))  # fmt: skip
    return sorted(hits, key=lambda h: h.column)
