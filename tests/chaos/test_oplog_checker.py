"""The soak's offline checker on hand-made logs: a clean log passes, and each property,
violated alone, is reported."""

from __future__ import annotations

import pytest

from tests.chaos.oplog import Final, Outcome, check

CLEAN = [
    "emit a:m1-0", "start a:m1-0 1 100", "done a:m1-0 1 100", "ack a:m1-0",
    "emit b:m2-0", "start b:m2-0 1 100", "fault kill9 executor-0 100",
    "start b:m2-0 2 200", "done b:m2-0 2 200",
    "emit c:m3-0", "start c:m3-0 1 300", "done c:m3-0 1 300", "refused c:m3-0",
    "start c:m3-0 2 200", "done c:m3-0 2 200",
    "start tick:5000 1 200", "done tick:5000 1 200",
    "poison triggers", "emit?",
]  # fmt: skip
RESULTS = [Outcome("a:m1-0", 1, "succeeded"), Outcome("b:m2-0", 2, "succeeded"),
           Outcome("c:m3-0", 2, "succeeded"), Outcome("tick:5000", 1, "succeeded")]  # fmt: skip


def final(**change: object) -> Final:
    fields: dict[str, object] = {"results": list(RESULTS), "pending": 0, "dead": 1}
    fields.update(change)
    return Final(**fields)  # type: ignore[arg-type]


def test_a_clean_log_passes() -> None:
    assert check(CLEAN, final()) == []


@pytest.mark.parametrize(
    ("lines", "state", "problem"),
    [
        (CLEAN, final(results=RESULTS[1:]), "acknowledged result lost: a:m1-0"),
        (CLEAN, final(results=[*RESULTS, RESULTS[1]]), "2 results for b:m2-0"),
        ([*CLEAN, "emit d:m4-0"], final(), "emitted, never answered: d:m4-0"),
        (CLEAN, final(results=[*RESULTS, Outcome("x:m9-0", 1, "failed"),
                               Outcome("y:m9-1", 1, "failed")]), "results of runs never emitted"),
        ([*CLEAN, "done a:m1-0 1 400"], final(), "2 completed effects for a:m1-0"),
        ([*CLEAN[:3], *CLEAN[4:]], final(results=[*RESULTS[1:], Outcome("a:m1-0", 2,
                                                                       "succeeded")]),
         "result of a:m1-0 (attempt 2) without its effect"),
        (CLEAN, final(pending=3), "3 entries still pending after the drain"),
        (CLEAN, final(dead=2), "2 dead letters for 1 injected poison"),
    ],
)  # fmt: skip
def test_each_violated_property_is_reported(lines: list[str], state: Final, problem: str) -> None:
    problems = check(lines, state)
    assert any(p.startswith(problem) for p in problems), problems


def test_a_refusal_or_fault_excuses_only_that_pids_effect() -> None:
    # c ran twice: pid 300's result was refused (excused), pid 200's counts. A third
    # completion by an unfaulted, unrefused pid is a real double effect.
    assert check([*CLEAN, "done c:m3-0 3 500"], final()) == ["2 completed effects for c:m3-0"]


def test_an_uncertain_poison_allows_one_more_dead_letter_and_no_fewer() -> None:
    lines = [*CLEAN, "poison?"]
    assert check(lines, final(dead=1)) == []  # the uncertain XADD was not written
    assert check(lines, final(dead=2)) == []  # or it was
    assert check(lines, final(dead=3)) == ["3 dead letters for 1 injected poison (+ 1 maybe)"]
    assert check(lines, final(dead=0)) == ["0 dead letters for 1 injected poison (+ 1 maybe)"]
