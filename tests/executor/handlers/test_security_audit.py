"""``security_audit``: planted canary secrets are found and never repeated anywhere."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from services.executor.handlers.base import HandlerError
from services.executor.handlers.secret_rules import scan_line
from services.executor.safety import ConfinementError
from tests.executor.handlers.support import make_ctx, run_handler

CANARIES = {
    "aws_access_key_id": "AKIACANARY1234567890",
    "github_token": "ghp_" + "Canary0123456789abcdefghijklmnopqrstu",
    "password_in_url": "CanaryUrlPass99",
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJjYW5hcnkifQ.c2lnbmF0dXJlY2FuYXJ5",
    "generic_secret": "CanaryApiKey12345",
    "private_key": "MIIEcanaryPrivateKeyBody0123456789",
}


def _plant(root: Path) -> None:
    logs = root / "logs"
    (logs / "old").mkdir(parents=True)
    (logs / "app.log").write_text(
        "09:30:00 INFO market open\n"
        f"09:30:01 DEBUG aws key {CANARIES['aws_access_key_id']} loaded\n"
        f"09:30:02 WARN connecting to postgres://trader:{CANARIES['password_in_url']}@db:5432/desk\n"
        "09:30:03 INFO password=*** (already masked)\n"
        f"09:30:04 DEBUG headers Authorization: Bearer {CANARIES['jwt']}\n"
    )
    (logs / "deploy.log").write_text(
        f"cloning with token {CANARIES['github_token']}\n"
        f"config api_key={CANARIES['generic_secret']}\n"
        "-----BEGIN RSA PRIVATE KEY-----\n"
        f"{CANARIES['private_key']}\n"
        "-----END RSA PRIVATE KEY-----\n"
    )
    with gzip.open(logs / "old" / "app.log.1.gz", "wt") as handle:
        handle.write(f"old line\nkey {CANARIES['aws_access_key_id']}\n")
    (logs / "notes.txt").write_text(f"not a log: {CANARIES['generic_secret']}\n")


def _read(path: str) -> str:
    return Path(path).read_text()


async def test_canaries_are_found_and_never_repeated(tmp_path: Path) -> None:
    _plant(tmp_path)
    ctx = make_ctx(roots=(tmp_path,), artifacts=tmp_path / "artifacts")
    params = {"logs": [{"root": "logs", "glob": "*.log*"}], "fail_on": None}
    with capture_logs() as logs:
        outcome = await run_handler("security_audit", ctx, params)
    found = {(Path(f["file"]).name, f["line"], f["rule"]) for f in outcome.details["findings"]}
    assert found == {
        ("app.log", 2, "aws_access_key_id"), ("app.log", 3, "password_in_url"),
        ("app.log", 5, "jwt"), ("deploy.log", 1, "github_token"),
        ("deploy.log", 2, "generic_secret"), ("deploy.log", 3, "private_key"),
        ("app.log.1.gz", 2, "aws_access_key_id"),
    }  # fmt: skip
    assert outcome.details["counts"] == {"critical": 3, "high": 2, "medium": 2, "low": 0}
    assert outcome.metrics["files_processed"] == 3
    artifact = _read(outcome.details["findings_artifact"])
    assert json.loads(artifact)["counts"] == outcome.details["counts"]
    everything = repr(outcome) + repr(logs) + repr(ctx.record()) + artifact
    for canary in CANARIES.values():
        assert canary not in everything
        assert canary[:10] not in everything
    gz = [f for f in outcome.details["findings"] if f["file"].endswith(".gz")]
    plain = [f for f in outcome.details["findings"] if f["rule"] == "aws_access_key_id"]
    assert gz[0]["fingerprint"] == plain[0]["fingerprint"]  # the same key leaked twice


async def test_findings_over_fail_on_fail_the_run(tmp_path: Path) -> None:
    _plant(tmp_path)
    ctx = make_ctx(roots=(tmp_path,), artifacts=tmp_path / "artifacts")
    with pytest.raises(
        HandlerError, match=r"^4 finding\(s\) at or above high: 2 critical, 2 high, 2 medium$"
    ) as caught:
        await run_handler("security_audit", ctx, {"logs": [{"root": "logs", "glob": "*.log"}]})
    assert caught.value.details["counts"]["critical"] == 2  # the .gz is not *.log
    assert "findings.json" in caught.value.details["findings_artifact"]
    assert all(c not in repr(caught.value.details) for c in CANARIES.values())


async def test_loose_permissions_are_found(tmp_path: Path) -> None:
    tree = tmp_path / "srv"
    (tree / "shared").mkdir(parents=True)
    (tree / "tmp").mkdir()
    (tree / "keys").mkdir()
    files = {"ok.cfg": 0o644, "open.cfg": 0o666, "team.cfg": 0o664, "keys/id_rsa": 0o644,
             "keys/id_ed25519": 0o640, "keys/good.pem": 0o600, "tool": 0o4755}  # fmt: skip
    for name, mode in files.items():
        (tree / name).write_text("x")
        os.chmod(tree / name, mode)
    os.chmod(tree / "shared", 0o777)
    os.chmod(tree / "tmp", 0o1777)  # sticky: fine
    os.symlink("/etc/passwd", tree / "link")  # not followed, not judged
    ctx = make_ctx(roots=(tmp_path,))
    outcome = await run_handler(
        "security_audit", ctx, {"permissions": [{"root": str(tree)}], "fail_on": "critical"}
    )
    found = {(Path(f["file"]).relative_to(tree).as_posix(), f["rule"], f["severity"])
             for f in outcome.details["findings"]}  # fmt: skip
    assert found == {
        ("open.cfg", "world_writable", "high"), ("team.cfg", "group_writable", "low"),
        ("shared", "world_writable_dir", "high"),
        ("keys/id_rsa", "sensitive_readable_by_others", "high"),
        ("keys/id_ed25519", "sensitive_readable_by_group", "medium"),
        ("tool", "setuid_setgid", "medium"),
    }  # fmt: skip
    assert outcome.details["findings_artifact"] is None  # no artifacts folder configured


@pytest.mark.parametrize("root", ["/etc", "../outside", "logs/../../outside"])
async def test_roots_outside_allowed_roots_are_refused(tmp_path: Path, root: str) -> None:
    (tmp_path / "inside").mkdir()
    ctx = make_ctx(roots=(tmp_path / "inside",))
    with pytest.raises(ConfinementError, match="outside allowed_roots"):
        await run_handler("security_audit", ctx, {"permissions": [{"root": root}]})


@pytest.mark.parametrize(
    ("line", "rules"),
    [
        ("nothing here", []),
        ("password=*** and token=<redacted>", []),
        ("url https://user:${DB_PASS}@host/", []),
        (
            "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYCANARYKEY1",
            ["aws_secret_access_key"],
        ),
        ("Authorization: Bearer abcdefghijklmnopqrstuvwxyz", ["bearer_token"]),
        ("slack xoxb-1234567890-abcdefghij", ["slack_token"]),
    ],
)
def test_secret_rules(line: str, rules: list[str]) -> None:
    assert [hit.rule for hit in scan_line(line)] == rules
