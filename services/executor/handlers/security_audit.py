"""``security_audit``: exposed secrets in log files, and over-permissive files.

``logs``: files under each ``root`` matching ``glob`` (gzip files are read through)
are scanned line by line with :mod:`.secret_rules`. ``permissions``: every file and
folder under each ``root`` is checked for world-writable files (high), world-writable
folders without the sticky bit (high), key and credential files readable by others
(high) or by the group (medium), setuid/setgid files (medium) and group-writable files
(low). Symlinks are not followed. Every root must lie inside ``allowed_roots`` (a
relative one is taken from the first allowed root).

Findings name file, line and rule, never the secret (a fingerprint instead); they are
kept as the run's ``findings.json`` artifact. A finding at or above ``fail_on`` fails
the run, so its alert fires.
"""

from __future__ import annotations

import asyncio
import fnmatch
import gzip
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import Field

from services.executor.handlers.base import HandlerError, Outcome, RunContext
from services.executor.handlers.command import confined_path
from services.executor.handlers.kit import SEVERITIES, Params, keep_json, severity_counts
from services.executor.handlers.registry import handler
from services.executor.handlers.secret_rules import scan_line
from services.executor.safety import iter_files

Severity = Literal["critical", "high", "medium", "low"]
SENSITIVE_NAMES: Final = ("*.pem", "*.key", "id_rsa*", "id_dsa*", "id_ecdsa*", "id_ed25519*",
                          "*.p12", "*.pfx", "*.kdbx", ".env", "*.env", ".pgpass", ".netrc",
                          "credentials*")  # fmt: skip
FINDINGS_SHOWN: Final = 100


class Scan(Params):
    """A folder to look in and which files (a glob on the name, or on the relative path)."""

    root: str = Field(min_length=1)
    glob: str = "*"


class SecurityAuditParams(Params):
    """Where to look for leaked secrets and loose permissions, and what fails the run."""

    logs: list[Scan] = Field(default_factory=list)
    permissions: list[Scan] = Field(default_factory=list)
    max_file_bytes: int = Field(256 << 20, ge=1)
    fail_on: Severity | None = "high"


def _root(ctx: RunContext, root: str) -> str:
    return str(confined_path(ctx, root))


def _lines(path: Path, limit: int) -> Iterator[tuple[int, str]]:
    opener: Any = gzip.open if path.name.endswith(".gz") else open
    read = 0
    with opener(path, "rt", encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, 1):
            read += len(line)
            if read > limit:
                return
            yield number, line


def _listed(top: str, glob: str, allowed_roots: tuple[str, ...]) -> list[Path]:
    return list(iter_files(top, glob, allowed_roots))


def _scan_file(path: Path, limit: int) -> list[dict[str, Any]]:
    """Secrets in one file (blocking; run in a thread)."""
    found: list[dict[str, Any]] = []
    try:
        for number, line in _lines(path, limit):
            found.extend(
                {"kind": "secret", "rule": hit.rule, "severity": hit.severity, "file": str(path),
                 "line": number, "column": hit.column, "length": hit.length,
                 "fingerprint": hit.fingerprint}
                for hit in scan_line(line)
            )  # fmt: skip
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        found.append({"kind": "unreadable", "rule": "unreadable", "severity": "low",
                      "file": str(path), "line": 0, "message": type(exc).__name__})  # fmt: skip
    return found


def _permission_issues(path: Path, mode: int) -> list[tuple[str, str]]:
    """(rule, severity) for one file or folder's mode bits."""
    if stat.S_ISDIR(mode):
        loose = mode & stat.S_IWOTH and not mode & stat.S_ISVTX
        return [("world_writable_dir", "high")] if loose else []
    issues = []
    if mode & stat.S_IWOTH:
        issues.append(("world_writable", "high"))
    elif mode & stat.S_IWGRP:
        issues.append(("group_writable", "low"))
    if mode & (stat.S_ISUID | stat.S_ISGID):
        issues.append(("setuid_setgid", "medium"))
    if any(fnmatch.fnmatch(path.name, p) for p in SENSITIVE_NAMES):
        if mode & stat.S_IROTH:
            issues.append(("sensitive_readable_by_others", "high"))
        elif mode & stat.S_IRGRP:
            issues.append(("sensitive_readable_by_group", "medium"))
    return issues


def _walk(top: str, glob: str) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(top, followlinks=False):
        dirnames.sort()
        for name in [*dirnames, *sorted(filenames)]:
            path = Path(dirpath, name)
            if fnmatch.fnmatchcase(path.relative_to(top).as_posix() if "/" in glob else name, glob):
                yield path
    yield Path(top)


def _check_permissions(top: str, glob: str) -> tuple[int, list[dict[str, Any]]]:
    """(entries checked, findings) under ``top`` (blocking; run in a thread)."""
    checked, found = 0, []
    for path in _walk(top, glob):
        try:
            mode = path.lstat().st_mode
        except OSError:
            continue  # vanished meanwhile
        if stat.S_ISLNK(mode):
            continue
        checked += 1
        for rule, severity in _permission_issues(path, mode):
            mode_text = oct(stat.S_IMODE(mode))
            found.append({"kind": "permission", "rule": rule, "severity": severity,
                          "file": str(path), "line": 0, "mode": mode_text})  # fmt: skip
    return checked, found


async def _audit_logs(
    ctx: RunContext, params: SecurityAuditParams
) -> tuple[int, list[dict[str, Any]]]:
    files, found = 0, []
    async with ctx.step("secrets") as step:
        for scan in params.logs:
            top = _root(ctx, scan.root)
            paths = await asyncio.to_thread(_listed, top, scan.glob, ctx.allowed_roots)
            for path in paths:
                hits = await asyncio.to_thread(_scan_file, path, params.max_file_bytes)
                found += hits
                files += 1
                step.count(files=1, findings=len(hits))
                await ctx.progress(files, None, f"scanned {path.name}")
        if not params.logs:
            step.skip("no log folders given")
    return files, found


async def _audit_permissions(
    ctx: RunContext, params: SecurityAuditParams
) -> tuple[int, list[dict[str, Any]]]:
    checked, found = 0, []
    async with ctx.step("permissions") as step:
        for scan in params.permissions:
            count, issues = await asyncio.to_thread(
                _check_permissions, _root(ctx, scan.root), scan.glob
            )
            checked += count
            found += issues
        step.count(entries=checked, findings=len(found))
        if not params.permissions:
            step.skip("no folders given")
    return checked, found


def _failing(findings: list[dict[str, Any]], fail_on: str | None) -> int:
    if fail_on is None:
        return 0
    worst = SEVERITIES[: SEVERITIES.index(fail_on) + 1]
    return sum(1 for f in findings if f["severity"] in worst)


@handler("security_audit", params=SecurityAuditParams)
async def security_audit(ctx: RunContext, params: SecurityAuditParams) -> Outcome:
    """Scan logs for secrets and folders for loose permissions; findings by severity."""
    if not params.logs and not params.permissions:
        raise HandlerError("params: give logs and/or permissions to audit")
    files, secrets = await _audit_logs(ctx, params)
    checked, loose = await _audit_permissions(ctx, params)
    findings = sorted(
        secrets + loose, key=lambda f: (SEVERITIES.index(f["severity"]), f["file"], f["line"])
    )
    counts = severity_counts(f["severity"] for f in findings)
    async with ctx.step("report"):
        artifact = keep_json(ctx, "findings.json", {"findings": findings, "counts": counts})
    details = {"counts": counts, "findings": findings[:FINDINGS_SHOWN],
               "findings_total": len(findings), "findings_artifact": artifact}  # fmt: skip
    by_severity = {f"findings_{k}": v for k, v in counts.items()}
    metrics = {"files_processed": files, "items_processed": files + checked, "bytes_freed": 0,
               "findings": len(findings), **by_severity}  # fmt: skip
    summary = ", ".join(f"{v} {k}" for k, v in counts.items() if v) or "no findings"
    failing = _failing(findings, params.fail_on)
    if failing:
        raise HandlerError(f"{failing} finding(s) at or above {params.fail_on}: {summary}",
                           details={**details, "metrics": metrics})  # fmt: skip
    return Outcome(message=f"audited {files} log files and {checked} paths: {summary}",
                   details=details, metrics=metrics)  # fmt: skip
