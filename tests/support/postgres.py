"""Find or start a PostgreSQL server for tests, in a fixed order of preference."""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

LOCAL_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"


def _reachable(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    return next((str(v / name) for v in versions if (v / name).exists()), None)


def _unprivileged() -> dict[str, object]:
    """subprocess kwargs that drop root (initdb refuses to run as root)."""
    if os.geteuid() != 0:
        return {}
    import pwd

    for name in ("postgres", "nobody"):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return {"user": entry.pw_uid, "group": entry.pw_gid}
    raise RuntimeError("running as root and no unprivileged user to own a private cluster")


@contextlib.contextmanager
def _private_cluster(_root: Path) -> Iterator[str]:
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not (initdb and pg_ctl):
        raise FileNotFoundError("initdb/pg_ctl not found")
    as_user = _unprivileged()
    root = Path(tempfile.mkdtemp(prefix="wk-pg-"))  # pytest's tmp dirs are 0700 to root
    os.chmod(root, 0o755)
    if as_user:
        os.chown(root, int(str(as_user["user"])), int(str(as_user["group"])))
    data, port, user = root / "data", _free_port(), "postgres"
    run = functools.partial(subprocess.run, check=True, capture_output=True, **as_user)
    run([initdb, "-D", str(data), "-U", user, "-A", "trust", "--no-sync"])
    opts = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
    run([pg_ctl, "-D", str(data), "-o", opts, "-l", str(root / "log"), "-w", "start"])
    try:
        yield f"postgresql://{user}@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop"], capture_output=True, **as_user
        )
        shutil.rmtree(root, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def _container() -> Iterator[str]:
    from testcontainers.postgres import PostgresContainer

    with PostgresContainer("postgres:16-alpine", driver=None) as pg:
        yield pg.get_connection_url()


@contextlib.contextmanager
def postgres_dsn(root: Path) -> Iterator[str]:
    """Yield a DSN; raise RuntimeError listing every attempt when none works."""
    env = os.environ.get("DATABASE_URL")
    if env:
        yield env
        return
    if _reachable("127.0.0.1", 5432):
        yield LOCAL_DSN
        return
    errors: list[str] = []
    for name, factory in (("initdb", lambda: _private_cluster(root)), ("docker", _container)):
        try:
            cm = factory()
            dsn = cm.__enter__()
        except Exception as exc:  # each way can fail in its own way; report them all
            errors.append(f"{name}: {exc}")
            continue
        try:
            yield dsn
        finally:
            cm.__exit__(None, None, None)
        return
    raise RuntimeError(
        "no PostgreSQL for the tests: DATABASE_URL unset, nothing on 127.0.0.1:5432, "
        + "; ".join(errors)
    )


def wait_until(predicate: object, timeout_s: float = 5.0) -> None:
    """Poll a zero-argument callable until it is truthy (helper for process tests)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if callable(predicate) and predicate():
            return
        time.sleep(0.02)
    raise TimeoutError(f"condition not met within {timeout_s} s")
