"""Property: whatever lands on the triggers stream, every good trigger is answered exactly
once, everything else is dead-lettered, and nothing is left pending."""

from __future__ import annotations

import uuid
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.contract.codec import encode, pack
from shared.contract.events import (
    EVENT_TYPES,
    AlertAcknowledged,
    AlertRaised,
    AlertResolved,
    Event,
    TaskChanged,
    TaskDue,
    TaskPaused,
    TaskResult,
    TaskResumed,
    TriggerEmergency,
    TriggerRun,
)
from shared.contract.keys import SCHEDULER_GROUP, Keys
from shared.runtime.clock import FakeClock
from shared.runtime.redis import Redis
from tests.scheduler.sched_support import T0, dues, make

GOOD = "good-task-7f3a9c"
"""The one task that exists; random text never spells it."""


def _event(type_name: str, task: str) -> Event:
    """A well-formed event of ``type_name`` about ``task``."""
    t = T0
    common: dict[str, Any] = {"task": task}
    by_type: dict[str, Event] = {
        TriggerRun.TYPE: TriggerRun(**common),
        TriggerEmergency.TYPE: TriggerEmergency(**common),  # GOOD allows no emergencies
        TaskDue.TYPE: TaskDue(run_id=f"{task}:1", handler="command", params={},
                              trigger="manual", scheduled_for=t, emitted_at=t, attempt=1,
                              max_attempts=1, timeout_s=5.0, priority="normal", **common),
        TaskResult.TYPE: TaskResult(run_id=f"{task}:1", handler="command", attempt=1,
                                    trigger="manual", scheduled_for=t, status="failed",
                                    started_at=t, finished_at=t, duration_s=0.0,
                                    executor="x", **common),
        TaskChanged.TYPE: TaskChanged(deleted=True, **common),
        TaskPaused.TYPE: TaskPaused(**common),
        TaskResumed.TYPE: TaskResumed(**common),
    }  # fmt: skip
    alert: dict[str, Any] = {"alert_id": "a", "key": task, "severity": "critical",
                             "title": "t", "message": "m", "source": "s",
                             "first_seen": t, "last_seen": t}  # fmt: skip
    by_type[AlertRaised.TYPE] = AlertRaised(**alert)
    by_type[AlertResolved.TYPE] = AlertResolved(**alert)
    by_type[AlertAcknowledged.TYPE] = AlertAcknowledged(**alert, acked_by="ops")
    return by_type[type_name]


_tasks = st.one_of(st.just(GOOD), st.text(max_size=10))
_bodies = st.one_of(
    st.binary(max_size=40),
    st.dictionaries(
        st.sampled_from(["task", "params", "reason", "x"]),
        st.one_of(st.text(max_size=8), st.integers(-(2**63), 2**64 - 1), st.none()),  # msgpack ints
        max_size=3,
    ).map(pack),
)
_raw = st.fixed_dictionaries(
    {"pad": st.just("1")},
    optional={
        "type": st.sampled_from([*EVENT_TYPES, "junk", ""]),
        "v": st.sampled_from(["1", "2"]),
        "body": _bodies,
    },
)
_entries = st.lists(
    st.one_of(
        st.just("good"),
        st.tuples(st.sampled_from(sorted(EVENT_TYPES)), _tasks),
        _raw,
    ),
    min_size=1,
    max_size=12,
)


def _is_good(item: Any) -> bool:
    return item == "good" or (item == (TriggerRun.TYPE, GOOD))


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(entries=_entries)
async def test_every_good_trigger_is_answered_once_and_the_rest_dead_lettered(
    r: Redis, entries: list[Any]
) -> None:
    keys = Keys(f"f{uuid.uuid4().hex[:12]}")  # a fresh namespace per example
    spec = {"params": {"argv": ["true"]}, "max_instances": 50}
    s = await make(r, keys, FakeClock(T0), {GOOD: spec})
    wanted: list[str] = []
    for item in entries:
        if _is_good(item):
            wanted.append(uuid.uuid4().hex)
            fields: Any = encode(TriggerRun(task=GOOD, correlation_id=wanted[-1]))
        elif isinstance(item, tuple):
            fields = encode(_event(*item))
        else:
            fields = item
        await r.xadd(keys.triggers, fields)
    for _ in range(5):
        if not await s.run_once():
            break

    answered = [d.correlation_id for d in await dues(r, keys)]
    assert sorted(c for c in answered if c) == sorted(wanted)
    assert len(answered) == len(wanted)
    assert await r.xlen(keys.dead) == len(entries) - len(wanted)
    assert (await r.xpending(keys.triggers, SCHEDULER_GROUP))["pending"] == 0
