"""A scheduled fire encoded from its task's kit is byte for byte the general path's:
``make_due`` → ``encode`` (the wire body) → ``Emitter.item_map`` (the script's item)."""

from __future__ import annotations

import struct
from typing import Any

import msgpack
import pytest

from services.scheduler.emitter import Emission, Emitter, Move, move_fields
from services.scheduler.itemwire import ITEM_FIELDS, ITEM_FORMAT, PROFILE_FIELDS
from services.scheduler.kit import Kits, build, make, run_lease_ms
from services.scheduler.occurrence import make_due
from services.scheduler.service import Scheduler
from shared.config import taskdefs
from shared.config.models import Config, TaskConfig
from shared.contract.codec import MAX_BODY_BYTES, EventEncodeError, encode
from shared.contract.keys import Keys
from shared.timing.window_spec import parse_window

SLOT = 1_800_000_000_000
AT = 1_800_000_000.25
SENT = 1_800_000_000.2503
WINDOWS = {"nightly": parse_window("nightly", {"hours": "01:00-05:00", "max_concurrent": 2},
                                    default_tz="UTC"),
           "open": parse_window("open", {"hours": "01:00-05:00"}, default_tz="UTC")}  # fmt: skip

TASKS: dict[str, dict[str, Any]] = {
    "plain": {},
    "rich": {"params": {"argv": ["vacuum", "--full"], "n": 3, "ratio": 0.5, "blob": "é"},
             "priority": "high", "timeout": "90s", "max_instances": 4, "overlap": "queue",
             "retries": {"max": 2}, "rollback": "auto", "resources": ["database", "disk"]},
    "windowed": {"window": "nightly", "overlap": "allow"},
    "uncapped_window": {"window": "open"},
    "waits": {"cooldown": "1h", "depends_on": ["plain"]},
}  # fmt: skip


def _general(keys: Keys, name: str, task: TaskConfig, **fire: Any) -> tuple[bytes, bytes]:
    """The script's item for one scheduled fire, built the general way: its profile and
    its values after the profile, encoded."""
    due = make_due(name, task, slot=str(SLOT), trigger="schedule", scheduled_for=AT,
                   emitted_at=SENT, deadline=fire.get("deadline"))  # fmt: skip
    window = WINDOWS.get(task.window) if task.window else None
    cap = window.max_concurrent if window is not None and window.max_concurrent else 0
    emission = Emission(
        due=due, slot=str(SLOT), window=task.window if cap else None, window_max=cap,
        overlap=task.overlap, then=fire.get("then"), defer_at=fire.get("defer_at"),
        lease_ms=run_lease_ms(task.timeout),
    )  # fmt: skip
    emitter = Emitter(None, keys)  # type: ignore[arg-type]  # no Redis needed
    item = emitter.item_map(emission)
    assert item["body"] == encode(due)["body"]
    # As the script reads them (raw strings: the body is the wire body's very bytes).
    profile, packed = emitter.item_parts(emission)
    assert msgpack.unpackb(profile, raw=True) == {
        f.encode(): v.encode() if isinstance(v, str) else v
        for f in PROFILE_FIELDS if (v := item.get(f)) is not None
    }  # fmt: skip
    fields = dict(zip(ITEM_FIELDS[1:], _read_item(packed), strict=True))
    assert fields.pop("body") == item["body"]
    assert fields.pop("due_ms") == item["due_ms"]
    assert fields == {f: "" if item.get(f) is None else item[f] for f in fields}
    return profile, packed


def _read_item(data: bytes) -> list[Any]:
    """An item's fields after its profile, read as ITEM_FORMAT says (text: a 2-byte
    length and UTF-8; the body: a 4-byte length; due_ms: a double)."""
    assert ITEM_FORMAT == ">H" + "Hc0" * 2 + "I4c0" + "d" + "Hc0" * 6
    read, at = [], 0
    for size in (2, 2, 4, None, 2, 2, 2, 2, 2, 2):
        if size is None:
            read.append(struct.unpack_from(">d", data, at)[0])
            at += 8
            continue
        n = int.from_bytes(data[at : at + size], "big")
        value = data[at + size : at + size + n]
        read.append(value if size == 4 else value.decode())
        at += size + n
    assert at == len(data)
    return read


@pytest.mark.parametrize("name", sorted(TASKS))
@pytest.mark.parametrize(
    "fire",
    [{}, {"deadline": AT + 3600.5},
     {"then": Move("x", "1800000060.25", str(SLOT + 60_000)), "defer_at": SENT + 5.0},
     {"then": Move("x", "-")}],
)  # fmt: skip
def test_a_kit_fire_is_the_general_item_byte_for_byte(
    keys: Keys, name: str, fire: dict[str, Any]
) -> None:
    task = TaskConfig(**{"handler": "command", **TASKS[name]})
    kit = build(name, task, keys, WINDOWS)
    then = fire.get("then")
    fired = kit.fire(SLOT, AT, SENT, deadline=fire.get("deadline"),
                     move=move_fields(then) if then is not None else None,
                     defer_at=fire.get("defer_at"))  # fmt: skip
    assert (fired.profile, fired.packed) == _general(keys, name, task, **fire)
    assert fired.scheduled_for == AT


def test_the_runtime_knows_which_tasks_need_facts_without_a_kit(keys: Keys) -> None:
    rt = Scheduler(None, Config(namespace=keys.ns)).rt  # type: ignore[arg-type]  # no I/O
    for name, spec in TASKS.items():
        rt._set(name, taskdefs.dump(TaskConfig(**{"handler": "command", **spec})))
    needs = {name: rt.needs_facts(name) for name in TASKS}
    assert needs == {"plain": False, "rich": False, "windowed": False, "uncapped_window": False,
                     "waits": True}  # fmt: skip
    assert len(rt.kits._kits) == 0
    rt._set("waits", taskdefs.dump(TaskConfig(handler="command")))  # changed: no longer
    assert not rt.needs_facts("waits")


def test_a_body_over_the_limit_is_refused_as_the_codec_refuses_it(keys: Keys) -> None:
    task = TaskConfig(handler="command", params={"blob": "x" * MAX_BODY_BYTES})
    with pytest.raises(EventEncodeError, match="above the"):
        encode(make_due("big", task, slot="1", trigger="schedule", scheduled_for=AT,
                        emitted_at=AT))  # fmt: skip
    with pytest.raises(EventEncodeError, match="above the"):
        build("big", task, keys, WINDOWS).fire(SLOT, AT, SENT, deadline=None)


def test_kits_keep_the_most_recently_used(keys: Keys) -> None:
    kits = Kits(kept=2)
    task = TaskConfig(handler="command")
    made = {n: kits.put(make(n, task, keys, window_max=0, lease_ms=1)) for n in "abc"}
    assert kits.get("a") is None
    assert kits.get("b") == made["b"]
    kits.put(make("d", task, keys, window_max=0, lease_ms=1))
    assert kits.get("c") is None
    assert kits.get("b") == made["b"]
    kits.drop("b")
    assert kits.get("b") is None
