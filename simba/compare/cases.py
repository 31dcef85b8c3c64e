"""The JUnit test cases of a run, of a sweep's cells and of a comparison.

The command line gathers what each needs (it knows the engine's summary and the sweep's
cell outcomes; this package imports neither) and writes them with
:func:`simba.compare.junit.write_junit`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from simba.compare.diff import Comparison, RunComparison
from simba.compare.junit import JUnitCase, JUnitSuite, tail
from simba.compare.render import difference_text, run_problems
from simba.record.reader import database_path, open_record


@dataclass(frozen=True, slots=True, kw_only=True)
class Ended:
    """How a run (or a sweep's cell) ended, as the command that ran it knows."""

    name: str
    outcome: str
    wall_time: float | None
    error: str | None
    run_directory: Path
    log: Path | None = None
    """A log file whose tail a failure carries (a sweep cell's), else the run's messages."""


def run_case(ended: Ended, *, classname: str) -> JUnitCase:
    """The test case of one run: passed if it succeeded, else its error and log tail."""
    log = _log_tail(ended)
    failure = None
    details = ""
    if ended.outcome != "success":
        error = ended.error or f"the run ended as {ended.outcome}"
        failure = f"{ended.outcome}: {error.splitlines()[0]}"
        details = error + (f"\n\nlast lines of the log:\n{log}" if log else "")
    return JUnitCase(
        name=ended.name,
        classname=classname,
        time=ended.wall_time or 0.0,
        failure=failure,
        details=details,
        output=log,
    )


def runs_suite(name: str, runs: Sequence[Ended], *, classname: str) -> JUnitSuite:
    cases = tuple(run_case(run, classname=classname) for run in runs)
    return JUnitSuite(name=name, cases=cases, time=sum(case.time for case in cases))


def comparison_suites(comparison: Comparison, *, elapsed: float) -> list[JUnitSuite]:
    """A suite per compared run (cell): a case for outcome and calls, one per key group."""
    suites = []
    for run in comparison.runs:
        name = f"simba compare {run.cell}" if run.cell else "simba compare"
        classname = f"compare.{run.cell}" if run.cell else "compare"
        suites.append(JUnitSuite(name=name, cases=_comparison_cases(run, classname), time=elapsed))
    return suites


def _comparison_cases(run: RunComparison, classname: str) -> tuple[JUnitCase, ...]:
    if run.calls is None:
        (problem,) = run_problems(run)
        return (JUnitCase(name="run", classname=classname, failure=problem, details=problem),)
    calls = run.calls
    problems = [p for p in run_problems(run) if p.startswith(("outcome:", "calls:"))]
    cases = [
        JUnitCase(
            name="outcome and calls",
            classname=classname,
            failure=problems[0] if problems else None,
            details="\n".join(problems),
            output=f"A: {run.a} ({calls.calls_a} calls, {calls.outcome_a})\n"
            f"B: {run.b} ({calls.calls_b} calls, {calls.outcome_b})",
        )
    ]
    for group in run.groups:
        lines = [difference_text(d) for d in group.differences]
        failure = None
        if lines:
            count = len(lines)
            failure = f"{count} of {group.keys} keys differ beyond tolerance: {lines[0]}"
        cases.append(
            JUnitCase(
                name=group.name,
                classname=classname,
                failure=failure,
                details="\n".join(lines),
            )
        )
    return tuple(cases)


def _log_tail(ended: Ended) -> str:
    if ended.log is not None:
        try:
            text = ended.log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return tail(text.splitlines())
    if not database_path(ended.run_directory).is_file():
        return ""
    with open_record(ended.run_directory) as record:
        messages = record.messages()
    return tail(
        [
            f"{m.level}: " + (f"[{m.module} tick {m.tick}] " if m.module else "") + m.text
            for m in messages
        ]
    )
