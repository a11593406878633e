"""The timer slack can be tightened where the system has one (Linux), and is left
alone, without error, where it has none."""

from __future__ import annotations

import sys
import threading

import pytest

from shared.runtime import timerslack


@pytest.mark.skipif(sys.platform != "linux", reason="timer slack is a Linux setting")
def test_tighten_sets_the_calling_threads_slack_and_reports_the_old_one() -> None:
    seen: list[int | None] = []

    def in_a_thread() -> None:  # the setting is per thread: leave the test runner's alone
        before = timerslack.current()
        seen.extend([before, timerslack.tighten(), timerslack.current()])
        seen.append(timerslack.tighten(2_000))
        seen.append(timerslack.current())

    worker = threading.Thread(target=in_a_thread)
    worker.start()
    worker.join()
    before, returned, after, returned_again, last = seen
    assert before is not None and before > 0
    assert returned == before
    assert after == timerslack.PRECISE_NS
    assert returned_again == timerslack.PRECISE_NS
    assert last == 2_000
