"""A flag a loop waits on with a deadline, at no more cost than the wait itself.

``async with asyncio.timeout(s): await event.wait()`` ends a wait that ran out by
cancelling the waiting task: a ``CancelledError`` raised through the wait, turned into a
``TimeoutError`` and caught. The scheduler waits like that before nearly every fire, and
at hundreds of fires per second those exceptions were a tenth of its CPU. A
:class:`Wake` ends a timed wait by resolving the waiter's future instead: no exception,
no cancellation, one timer handle.
"""

from __future__ import annotations

import asyncio


class Wake:
    """``set`` / ``clear`` / ``is_set`` / ``wait`` as :class:`asyncio.Event`, plus
    :meth:`wait_up_to`. Like the event, ``set`` wakes every waiter even if the flag is
    cleared again before they run."""

    __slots__ = ("_flag", "_waiters")

    def __init__(self) -> None:
        self._flag = False
        self._waiters: list[asyncio.Future[bool]] = []

    def is_set(self) -> bool:
        return self._flag

    def set(self) -> None:
        if self._flag:
            return
        self._flag = True
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(True)

    def clear(self) -> None:
        self._flag = False

    async def wait(self) -> bool:
        """Wait until the flag is set; True."""
        return await self._wait(None)

    async def wait_up_to(self, seconds: float) -> bool:
        """Wait at most ``seconds`` for the flag; True when it was set, False when the
        time ran out."""
        return await self._wait(max(0.0, seconds))

    async def _wait(self, seconds: float | None) -> bool:
        if self._flag:
            return True
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[bool] = loop.create_future()
        self._waiters.append(waiter)
        timer = None if seconds is None else loop.call_later(seconds, _run_out, waiter)
        try:
            return await waiter
        finally:
            if timer is not None:
                timer.cancel()
            if waiter in self._waiters:  # ran out, or the waiting task was cancelled
                self._waiters.remove(waiter)


def _run_out(waiter: asyncio.Future[bool]) -> None:
    if not waiter.done():
        waiter.set_result(False)
