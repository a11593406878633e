"""Secrets never leak: ``watchkeeper up`` (all four services) runs with every kind of
secret set to a canary string, succeeds and fails runs that touch them, and not one canary
shows up in its logs, results, history, decisions, dead letters, alerts or API answers.

The only places a secret may be are the ones that must hold it for the run to happen: the
task definitions and the ``task.due`` entries that carry a task's params to the executor.
Every other key of the namespace is scanned, the alerts stream included (on main only
dead-lettered runs raise alerts, so it is empty here until alert rules exist).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgpack
import pytest
import redis
import yaml

from shared.contract.keys import Keys
from shared.runtime.embedded import find_binary, free_port
from tests.support.processes import ROOT

CANARIES = {
    "CANARY_API_TOKEN": "cnry-api-token-7f3a9",
    "CANARY_WEBHOOK_SECRET": "cnry-webhook-secret-51c2",
    "CANARY_TASK_SECRET": "cnry-task-env-secret-0d8e",
    "CANARY_DB_PASSWORD": "cnry-db-password-9b41",
    "CANARY_REDIS_PASSWORD": "cnry-redis-password-c6a0",
}
KEYS = Keys("canary")
PRINT_ENV = "import os, sys; print('got', os.environ['API_TOKEN']); sys.exit(int(sys.argv[1]))"
MAY_HOLD_SECRETS = {KEYS.taskdefs, *(KEYS.due(p) for p in ("critical", "high", "normal", "low"))}
"""Task definitions and due entries carry task params (the env secret) by design."""


def _config(tmp_path: Path) -> Path:
    command = {"handler": "command", "overridable_params": [],
               "params": {"env": {"API_TOKEN": "${CANARY_TASK_SECRET}"}}}  # fmt: skip
    config = {
        "namespace": KEYS.ns,
        "api": {"tokens": {"ops": {"token": "${CANARY_API_TOKEN}", "role": "operator"}}},
        "alerts": {
            "channels": [
                {
                    "type": "webhook",
                    "url": "https://hooks.invalid/wk",
                    "secret": "${CANARY_WEBHOOK_SECRET}",
                }
            ]
        },
        "executor": {"allowed_roots": [str(tmp_path)]},
        "tasks": {
            "prints_secret_ok": command
            | {"params": command["params"] | {"argv": [sys.executable, "-c", PRINT_ENV, "0"]}},
            "prints_secret_fails": command
            | {"params": command["params"] | {"argv": [sys.executable, "-c", PRINT_ENV, "3"]}},
            # DATABASE_URL names a port where nothing listens: the run fails connecting.
            "db_unreachable": {"handler": "database_maintenance"},
            # Thresholds every machine exceeds: a result full of resource readings.
            "health": {
                "handler": "system_health_check",
                "params": {
                    "cpu_threshold": 0.001,
                    "memory_threshold": 0.001,
                    "disk_threshold": 0.001,
                },
            },
        },
    }
    path = tmp_path / "canary.yml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture
def canary_up(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], redis.Redis, int, Path]]:
    """``up`` with every secret a canary; its Redis needs a (canary) password too."""
    redis_port, api_port = free_port(), free_port()
    server = subprocess.Popen(
        [find_binary(), "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
         "--requirepass", CANARIES["CANARY_REDIS_PASSWORD"], "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_URL", "WATCHKEEPER_"))}
    env |= CANARIES | {
        "PYTHONPATH": str(ROOT),
        "REDIS_URL": f"redis://:{CANARIES['CANARY_REDIS_PASSWORD']}@127.0.0.1:{redis_port}/0",
        "DATABASE_URL": f"postgresql://wk:{CANARIES['CANARY_DB_PASSWORD']}@127.0.0.1:{free_port()}/wk",
        "WATCHKEEPER_API__PORT": str(api_port),
        "WATCHKEEPER_DATA_DIR": str(tmp_path / "data"),
        "WATCHKEEPER_LOGGING__LEVEL": "DEBUG",
    }  # fmt: skip
    log = tmp_path / "up.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "services.cli.main", "up", "-c", str(_config(tmp_path))],
            cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    client = redis.Redis(port=redis_port, password=CANARIES["CANARY_REDIS_PASSWORD"])
    try:
        _wait(lambda: _status(api_port, "/readyz") == 200, "up did not become ready")
        yield proc, client, api_port, log
    finally:
        client.close()
        for p in (proc, server):
            p.kill()
            p.wait(10)


def _wait(predicate: Callable[[], bool], what: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except (redis.ConnectionError, OSError):
            pass
        time.sleep(0.05)  # other processes: polled, bounded
    raise AssertionError(f"{what} within {timeout_s} s")


def _status(port: int, path: str, token: str | None = None) -> int:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=2) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def _trigger(client: redis.Redis, task: str) -> str:
    body = msgpack.packb({"task": task, "requested_by": "canary-test"})
    entry_id = client.xadd(KEYS.triggers, {"type": "trigger.run", "v": "1", "body": body})
    return f"{task}:m{entry_id.decode()}"


def _results(client: redis.Redis) -> dict[str, dict[str, Any]]:
    return {
        body["run_id"]: body
        for _, fields in client.xrange(KEYS.results)
        for body in [msgpack.unpackb(fields[b"body"])]
    }


def _everything_stored(client: redis.Redis) -> dict[str, bytes]:
    """Every key of the namespace (but those that must hold params), dumped as bytes."""
    out = {}
    for raw in client.scan_iter(match=f"{KEYS.ns}:*", count=1000):
        key = raw.decode()
        kind = client.type(key).decode()
        if key in MAY_HOLD_SECRETS:
            continue
        dump = {
            "string": lambda k: client.get(k),
            "hash": lambda k: client.hgetall(k),
            "list": lambda k: client.lrange(k, 0, -1),
            "set": lambda k: client.smembers(k),
            "zset": lambda k: client.zrange(k, 0, -1, withscores=True),
            "stream": lambda k: client.xrange(k),
        }[kind](key)
        out[key] = repr(dump).encode() + _unpacked(dump)
    return out


def _unpacked(dump: Any) -> bytes:
    """msgpack bodies inside stream entries, decoded (a secret could hide in their bytes)."""
    if not isinstance(dump, list):
        return b""
    parts = []
    for item in dump:
        fields = item[1] if isinstance(item, tuple) and len(item) == 2 else None
        for value in (fields or {}).values() if isinstance(fields, dict) else ():
            try:
                parts.append(repr(msgpack.unpackb(value)).encode())
            except (ValueError, TypeError, msgpack.ExtraData, msgpack.FormatError):
                continue
    return b"".join(parts)


def test_no_canary_leaks_anywhere(
    canary_up: tuple[subprocess.Popen[bytes], redis.Redis, int, Path],
) -> None:
    proc, client, api_port, log = canary_up
    tasks = ("prints_secret_ok", "prints_secret_fails", "db_unreachable", "health")
    run_ids = {task: _trigger(client, task) for task in tasks}
    client.xadd(KEYS.triggers, {"type": "trigger.run", "v": "1", "body": b"\xc1 not msgpack"})
    _wait(lambda: set(run_ids.values()) <= set(_results(client)), "not every run finished")
    results = _results(client)
    statuses = {task: results[run_ids[task]]["status"] for task in tasks}
    assert statuses == {"prints_secret_ok": "succeeded", "prints_secret_fails": "failed",
                        "db_unreachable": "failed", "health": "succeeded"}  # fmt: skip
    # The secret really reached the program (else this test would prove nothing) ...
    assert "got ***" in results[run_ids["prints_secret_ok"]]["details"]["stdout"]
    _wait(lambda: client.xlen(KEYS.dead) > 0, "the garbage trigger was not dead-lettered")
    _wait(lambda: all(client.exists(KEYS.result(r)) for r in run_ids.values()), "no result keys")
    token = CANARIES["CANARY_API_TOKEN"]
    answers = b""
    for run_id in run_ids.values():
        request = urllib.request.Request(f"http://127.0.0.1:{api_port}/api/v1/runs/{run_id}")
        request.add_header("Authorization", f"Bearer {token}")  # reads need a viewer token
        with urllib.request.urlopen(request) as resp:
            answers += resp.read()
    assert _status(api_port, "/readyz", token) == 200

    proc.terminate()
    proc.wait(20)
    places = {"logs": log.read_bytes(), "api": answers, **_everything_stored(client)}
    assert b'"status"' in places["api"] and len(places["logs"]) > 1000
    for name, secret in CANARIES.items():
        leaks = [where for where, data in places.items() if secret.encode() in data]
        assert not leaks, f"{name} leaked into {leaks}"
