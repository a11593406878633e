"""The stored form of a definition: compact, read back equal; packed definitions."""

from __future__ import annotations

from datetime import datetime

from shared.config import taskdefs
from shared.config.models import Config, RetryPolicy, TaskAlerts, TaskConfig

RICH = TaskConfig(
    handler="command", params={"argv": ["backup", "--all"]}, overridable_params=["mode"],
    schedule=[{"cron": "0 3 * * *"}, {"every": "6h"}], priority="high", timeout=90.0,
    retries=RetryPolicy(max=3), depends_on=["a"], cooldown=5.0, jitter=2.5,
    start=datetime(2030, 1, 1, 12), alerts=TaskAlerts(failure_rate=0.2), tags=["db"],
    enabled=False, misfire_grace=0.0, impact=0.0,
)  # fmt: skip
PLAIN = TaskConfig(handler="command", params={"argv": ["true"]})


def test_a_definition_is_stored_without_its_defaults_and_reads_back_equal() -> None:
    for task in (RICH, PLAIN, TaskConfig(handler="backup")):
        assert taskdefs.parse(taskdefs.dump(task)) == task
    assert taskdefs.dump(PLAIN) == b'{"handler":"command","params":{"argv":["true"]}}'
    # Set to a value equal to a default other than the field's own: kept.
    assert b'"misfire_grace":0.0' in taskdefs.dump(RICH)
    assert b'"enabled":false' in taskdefs.dump(RICH)


def test_a_definition_stored_with_every_field_still_reads() -> None:
    assert taskdefs.parse(RICH.model_dump_json()) == RICH


def test_packed_definitions_come_back_in_order_one_step_at_a_time() -> None:
    # Distinct params keep the blob many steps long: pairs straddle the steps.
    pairs = [(f"t{i:05d}", taskdefs.dump(RICH.model_copy(update={"params": {"n": i * 7919}})))
             for i in range(20_000)]  # fmt: skip
    packed = taskdefs.Packed.of(iter(pairs))
    assert len(packed) == 20_000
    assert len(packed.blob) > 8 * taskdefs.UNPACK_STEP
    assert list(packed) == pairs
    assert list(packed) == pairs  # read again
    assert list(taskdefs.Packed.of([])) == []


def test_dumped_gives_each_task_of_a_config_as_stored() -> None:
    config = Config(tasks={"rich": RICH, "plain": PLAIN})
    assert dict(taskdefs.dumped(config)) == {
        "rich": taskdefs.dump(RICH), "plain": taskdefs.dump(PLAIN)
    }  # fmt: skip
