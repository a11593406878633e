"""The soak's operation log and its offline checker (a pure function).

The log is plain text, one operation a line (``kind`` first, fields separated by spaces):

- ``emit RUN`` — a trigger whose XADD Redis acknowledged (its run id); ``emit?`` — an
  XADD that failed, so Redis may or may not hold it (no run id is known);
- ``poison STREAM`` — a garbage entry whose XADD Redis acknowledged; ``poison?`` — one
  whose XADD failed (Redis may or may not hold it);
- ``start RUN ATTEMPT PID`` / ``done RUN ATTEMPT PID`` — the handler began / completed
  its side effect (written by the handler itself);
- ``ack RUN`` — a result the test saw in the results stream (Redis acknowledged it);
- ``fault KIND NAME PID`` — the test killed (``kill9``) or froze (``stop``) a process;
- ``refused RUN`` — an executor's result was refused by the ownership fence, or it gave
  up publishing and left the run to the reclaimer (read from the executors' own logs).

What the checker asserts, against the final state read after the drain:

1. no acknowledged result lost: every ``ack`` run still has its result;
2. one result per run: no run id has two results;
3. every emitted run has a result (nothing emitted was lost); results of runs never
   logged as emitted are only scheduled ones (``tick:…``) or at most as many as the
   uncertain ``emit?`` lines;
4. exactly one effect per run: every completed effect counts, except those of a pid
   killed or frozen after the effect started and before its result was seen (the log
   is in time order: every line is one O_APPEND write to the same file), and one more
   per ``refused`` of the run — by design such a run may execute again: the guarantee
   there is one *result*; at most one counted ``done`` per run, and every successful
   result has a ``done`` of its attempt;
5. pending lists drained: nothing is left pending in any group;
6. dead letters equal the injected poison, plus at most the uncertain ``poison?`` lines.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Outcome:
    """One result found at the end."""

    run_id: str
    attempt: int
    status: str


@dataclass(frozen=True, slots=True)
class Final:
    """The state after the drain."""

    results: list[Outcome]
    pending: int
    dead: int


COUNTED = frozenset({"emit?", "poison", "poison?"})


@dataclass
class _Log:
    emitted: set[str] = field(default_factory=set)
    counted: Counter[str] = field(default_factory=Counter)
    """How many lines of each kind that only counts: ``emit?``, ``poison``, ``poison?``."""
    acked: dict[str, int] = field(default_factory=dict)
    """run → line number of its first ``ack``."""
    last_fault: dict[str, int] = field(default_factory=dict)
    """pid → line number of its last fault."""
    started: dict[tuple[str, str, str], int] = field(default_factory=dict)
    """(run, attempt, pid) → line number of the effect's start."""
    refused: Counter[str] = field(default_factory=Counter)
    done: list[tuple[str, str, str]] = field(default_factory=list)

    def excused(self, run: str, attempt: str, pid: str) -> bool:
        """Whether a completed effect may legitimately be repeated by another attempt."""
        fault = self.last_fault.get(pid, -1)
        during = (
            self.started.get((run, attempt, pid), fault) < fault < self.acked.get(run, fault + 1)
        )
        return during or (run, pid) in self.refused


def parse(lines: Iterable[str]) -> _Log:
    """Read the operation log (blank and unknown lines are ignored)."""
    log = _Log()
    for number, line in enumerate(lines):
        kind, *rest = line.split() or [""]
        if kind == "emit" and rest:
            log.emitted.add(rest[0])
        elif kind in COUNTED:
            log.counted[kind] += 1
        elif kind == "ack" and rest:
            log.acked.setdefault(rest[0], number)
        elif kind == "fault" and len(rest) >= 3:
            log.last_fault[rest[2]] = number
        elif kind == "start" and len(rest) >= 3:
            log.started[(rest[0], rest[1], rest[2])] = number
        elif kind == "refused" and rest:
            log.refused[rest[0]] += 1
        elif kind == "done" and len(rest) >= 3:
            log.done.append((rest[0], rest[1], rest[2]))
    return log


def check(lines: Iterable[str], final: Final) -> list[str]:
    """Every violation of the soak's properties (empty when all hold)."""
    log = parse(lines)
    found = Counter(r.run_id for r in final.results)
    problems = [f"acknowledged result lost: {run}" for run in sorted(set(log.acked) - set(found))]
    problems += [f"{n} results for {run}" for run, n in sorted(found.items()) if n > 1]
    problems += [f"emitted, never answered: {run}" for run in sorted(log.emitted - set(found))]
    unexplained = [r for r in found if r not in log.emitted and not r.startswith("tick:")]
    if len(unexplained) > log.counted["emit?"]:
        problems.append(f"results of runs never emitted: {sorted(unexplained)}")
    problems += _effects(log, final)
    if final.pending:
        problems.append(f"{final.pending} entries still pending after the drain")
    poison, maybe = log.counted["poison"], log.counted["poison?"]
    if not poison <= final.dead <= poison + maybe:
        more = f" (+ {maybe} maybe)" if maybe else ""
        problems.append(f"{final.dead} dead letters for {poison} injected poison{more}")
    return problems


def _effects(log: _Log, final: Final) -> list[str]:
    counted = Counter(run for run, attempt, pid in log.done if not log.excused(run, attempt, pid))
    counted.subtract(log.refused)
    problems = [f"{n} completed effects for {run}" for run, n in sorted(counted.items()) if n > 1]
    done = {(run, attempt) for run, attempt, _ in log.done}
    problems += [
        f"result of {r.run_id} (attempt {r.attempt}) without its effect"
        for r in final.results
        if r.status == "succeeded" and (r.run_id, str(r.attempt)) not in done
    ]
    return problems
