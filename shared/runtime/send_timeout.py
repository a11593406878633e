"""Sends that never swallow a cancellation (redis-py on Python 3.11).

With a socket timeout set, redis-py times each send with ``asyncio.wait_for``. On
Python 3.11 ``wait_for`` returns normally when the task it waits for is done by the time
its caller's cancellation is delivered, and the cancellation is lost: the send takes one
loop turn in a task of its own, so a cancel that lands in that turn often goes nowhere.
Measured with redis 8.1: about one cancel in three aimed at a task looping over
``HSET`` vanished, and the task ran on. An executor shut down mid-run had its run go on
past the grace period to a result (the SIGTERM test caught it under load).

:func:`cancel_safe` gives a pool a connection class that times the send with
``asyncio.timeout`` instead, in the calling task: a cancel reaches the caller as a
``CancelledError``, and a send that runs out still disconnects and raises redis-py's
``TimeoutError``. From Python 3.12 ``wait_for`` is built on ``asyncio.timeout`` and the
pool keeps redis-py's own class.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from redis.asyncio.connection import AbstractConnection, ConnectionPool
from redis.exceptions import TimeoutError as RedisTimeoutError

LOSES_CANCELS = sys.version_info < (3, 12)
"""Whether this Python's ``asyncio.wait_for`` can swallow a cancellation."""


class _TimedInCaller:
    """Mixed in before a redis-py connection class (see :func:`cancel_safe`)."""

    socket_timeout: float | None

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        timeout = self.socket_timeout
        if not timeout:
            await super().send_packed_command(command, check_health)  # type: ignore[misc]
            return
        # Without a socket timeout redis-py writes in this task, untimed; the bound is
        # ours. The connection serves one command at a time, so nothing else reads the
        # timeout while it is hidden; a read during the send (a connect's handshake, the
        # health check's PING) is bounded by the same deadline.
        self.socket_timeout = None
        try:
            async with asyncio.timeout(timeout):
                await super().send_packed_command(command, check_health)  # type: ignore[misc]
        except TimeoutError:  # redis-py disconnected on the cancellation that timed out
            raise RedisTimeoutError("Timeout sending to Redis") from None
        finally:
            self.socket_timeout = timeout


_classes: dict[type[AbstractConnection], type[AbstractConnection]] = {}


def cancel_safe(pool: ConnectionPool) -> None:
    """Make the connections ``pool`` creates from now on time their sends in the caller
    (on Python 3.11; no change from 3.12). Call before the pool's first command."""
    if not LOSES_CANCELS:
        return
    base = pool.connection_class
    if issubclass(base, _TimedInCaller):
        return
    if base not in _classes:
        _classes[base] = type(f"CancelSafe{base.__name__}", (_TimedInCaller, base), {})
    pool.connection_class = _classes[base]


def redis_py_class(connection_class: type[AbstractConnection]) -> type[AbstractConnection]:
    """The redis-py class under :func:`cancel_safe`'s (which kind of connection it is)."""
    if issubclass(connection_class, _TimedInCaller):
        return connection_class.__mro__[2]
    return connection_class
