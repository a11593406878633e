"""Per-hop timestamps of the trigger → handler path (``bench/pipeline.py --hops``).

Run as ``python -m bench.support.hoptrace <module> <args>``: wraps a few methods of the
scheduler and the executor with time stamps (epoch seconds, kept in memory) and runs
``<module>`` as ``__main__``; at exit the stamps go to ``$BENCH_TRACE/<pid>.json`` as
``{key: [(stamp name, instant), ...]}``, keyed by ``<trigger stream>/<entry id>``
(scheduler) or run id (executor), and ``gc``: every cyclic collection. Nothing here is
loaded unless the bench asks for it.

Stamps: ``sched_read`` (the scheduler's XREADGROUP returned the trigger),
``sched_handle`` (its part reached the trigger intake), ``emitted`` (``schedule_emit``
returned), ``exec_woken`` (the executor's last wake-up read before the take returned),
``take_start`` / ``taken`` (the read that took the run was sent / returned; all three the
wait's return for a take queued behind a wait).
"""

from __future__ import annotations

import atexit
import gc
import json
import os
import runpy
import sys
import time
from collections import defaultdict
from typing import Any

import msgpack

KEYS: list[str] = []
NAMES: list[str] = []
TIMES: list[float] = []
"""The stamps, as three flat lists of untracked values: the trace itself must not give
the cyclic collector more to walk."""
GC: list[float] = []
"""Every collection: generation, start, wall ms, CPU ms (flat)."""


def _note(key: Any, name: str, at: float) -> None:
    KEYS.append(key.decode() if isinstance(key, bytes) else str(key))
    NAMES.append(name)
    TIMES.append(at)


def _gc_watch() -> None:
    """Stamp every cyclic collection that took 1 ms or more (key ``gc``)."""
    began = [0.0, 0.0]

    def callback(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            began[0], began[1] = time.time(), time.process_time()
            return
        wall, cpu = time.time() - began[0], time.process_time() - began[1]
        GC.extend((info["generation"], began[0], wall * 1000, cpu * 1000))
        if info["generation"] == 2 and os.environ.get("BENCH_TRACE_GC2"):
            print("gc2", gc.get_freeze_count(), len(gc.get_objects(2)), info, file=sys.stderr)
            import collections

            kinds = collections.Counter(type(o).__name__ for o in gc.get_objects(2))
            print("gc2 kinds", kinds.most_common(15), file=sys.stderr, flush=True)

    gc.callbacks.append(callback)


def _dump() -> None:
    out = os.environ.get("BENCH_TRACE")
    if out:
        stamps = defaultdict(list)
        for key, name, at in zip(KEYS, NAMES, TIMES, strict=True):
            stamps[key].append((name, at))
        stamps["gc"] = [GC[i : i + 4] for i in range(0, len(GC), 4)]
        with open(os.path.join(out, f"{os.getpid()}.json"), "w") as f:
            json.dump(stamps, f)


def _run_id(fields: dict[Any, Any]) -> str | None:
    body = fields.get(b"body", fields.get("body"))
    try:
        return str(msgpack.unpackb(body, raw=False)["run_id"])
    except Exception:
        return None


def _patch_scheduler() -> None:
    from services.scheduler.intake import Intake
    from shared.runtime.consume import Consumer

    read, triggers, emit = Consumer._xreadgroup, Intake.triggers, Intake._emit

    async def traced_read(self: Any, *args: Any, **kwargs: Any) -> Any:
        asked = time.time()
        entries = await read(self, *args, **kwargs)
        now = time.time()
        for entry in entries:
            _note(f"{entry.stream}/{entry.entry_id}", "sched_asked", asked)
            _note(f"{entry.stream}/{entry.entry_id}", "sched_read", now)
        return entries

    # What they return is passed on (the triggers the emission script acked, in trees
    # where it acks them).
    async def traced_triggers(self: Any, token: str, items: list[Any]) -> Any:
        now = time.time()
        for item in items:
            _note(f"{item.entry.stream}/{item.entry.entry_id}", "sched_handle", now)
        return await triggers(self, token, items)

    async def traced_emit(self: Any, token: str, accepted: list[Any]) -> Any:
        done = await emit(self, token, accepted)
        now = time.time()
        for item, *_ in accepted:
            _note(f"{item.entry.stream}/{item.entry.entry_id}", "emitted", now)
        return done

    Consumer._xreadgroup = traced_read  # type: ignore[method-assign]
    Intake.triggers = traced_triggers  # type: ignore[method-assign]
    Intake._emit = traced_emit  # type: ignore[method-assign]


def _patch_executor() -> None:
    from services.executor.intake import Intake

    take, take_when_new, wait = Intake.take, Intake.take_when_new, Intake.wait_for_work
    woken: list[float] = [0.0]

    async def traced_wait(self: Any, *args: Any, **kwargs: Any) -> Any:
        got = await wait(self, *args, **kwargs)
        woken[0] = time.time()
        return got

    def note(taken: Any, woken: float, start: float, now: float) -> None:
        for entry in taken.entries:
            run_id = _run_id(entry.fields)
            if run_id:
                _note(run_id, "exec_woken", woken)
                _note(run_id, "take_start", start)
                _note(run_id, "taken", now)

    async def traced_take(self: Any, *args: Any, **kwargs: Any) -> Any:
        start = time.time()
        taken = await take(self, *args, **kwargs)
        note(taken, woken[0], start, time.time())
        return taken

    async def traced_take_when_new(self: Any, *args: Any, **kwargs: Any) -> Any:
        # The wake-up and the take come back together: one instant for all three.
        taken = await take_when_new(self, *args, **kwargs)
        now = time.time()
        note(taken, now, now, now)
        return taken

    Intake.take = traced_take  # type: ignore[method-assign]
    Intake.take_when_new = traced_take_when_new  # type: ignore[method-assign]
    Intake.wait_for_work = traced_wait  # type: ignore[method-assign]


def main() -> None:
    module, sys.argv = sys.argv[1], sys.argv[1:]
    service = sys.argv[1] if len(sys.argv) > 1 else ""
    if service in ("scheduler", "up"):
        _patch_scheduler()
    if service in ("executor", "up"):
        _patch_executor()
    _note("service", service, time.time())
    _gc_watch()
    atexit.register(_dump)
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
