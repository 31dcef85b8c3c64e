"""The end of ``simba run``'s output: the module table, the failure and the outcome line.

All of it comes from the run's :class:`~simba.engine.RunSummary`, so that the counts
agree everywhere (the terms are in ``docs/glossary.rst``): a *call* is done when one of
its *attempts* succeeded; the table's ``calls`` add up to the outcome line's calls, its
``attempts`` (``calls`` plus ``failed``) to the line's attempts.  The outcome line is
the last line of the run's output, on a terminal and in a pipe alike::

    run failed: 5/14 calls in 0.41 s, 6 attempts -> /home/me/runs/r1

A failure is told once, before it, on stderr: the cause with the last lines of the
module's log and the log's path (the engine's message), then the exact command that
continues the run.
"""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING

from simba.cli.terminal import Terminal

if TYPE_CHECKING:
    from pathlib import Path

    from simba.engine import RunSummary


def attempts(summary: RunSummary) -> int:
    """Every attempt of every module in the run (retried and replayed ones included)."""
    return sum(m.calls for m in summary.modules.values())


def outcome_line(summary: RunSummary) -> str:
    """``run success: 14/14 calls in 0.23 s, 14 attempts -> RUN_DIR``."""
    return (
        f"run {summary.outcome}: {summary.calls}/{summary.planned_calls} calls in "
        f"{summary.wall_time:.2f} s, {attempts(summary)} attempts -> {summary.run_directory}"
    )


def resume_command(run_directory: Path, *, timeout: float | None, jobs: int | None) -> str:
    """``simba run --resume RUN_DIR`` with the options of this run that it takes again."""
    words = ["simba", "run", "--resume", str(run_directory)]
    if timeout is not None:
        words += ["--timeout", f"{timeout:g}"]
    if jobs is not None:
        words += ["-j", str(jobs)]
    return shlex.join(words)


def failure_lines(summary: RunSummary, continue_with: str) -> list[str]:
    """The cause (with its log's tail and path, as the engine wrote it) and how to go on."""
    error = summary.error or "the run did not finish"
    lines = error.splitlines()
    if "simba run --resume" not in error:  # a signal's message says it already
        lines.append(f"to continue the run: {continue_with}")
    return lines


def module_table(terminal: Terminal, summary: RunSummary) -> None:
    """Per module: calls done, attempts, failed attempts, and their wall times."""
    rows = [
        (
            name,
            m.calls - m.failures,
            m.calls,
            m.failures,
            round(m.wall_time, 6),
            None if m.mean_wall_time is None else round(m.mean_wall_time, 6),
            round(m.max_wall_time, 6),
        )
        for name, m in summary.modules.items()
    ]
    terminal.table(
        "modules", ("module", "calls", "attempts", "failed", "total s", "mean s", "max s"), rows
    )
    if summary.services:
        terminal.table(
            "services",
            ("service", "api", "jobsCompleted", "exit"),
            [
                (name, s.api, s.jobs_completed, s.signal or s.exit_code)
                for name, s in summary.services.items()
            ],
        )


def tell(
    terminal: Terminal, summary: RunSummary, *, continue_with: str, quiet: bool = False
) -> None:
    """The table (unless ``quiet``), the failure if any (stderr), the outcome line last."""
    if not quiet:
        module_table(terminal, summary)
    if summary.outcome != "success":
        terminal.error("\n".join(failure_lines(summary, continue_with)))
    terminal.outcome(outcome_line(summary), summary.outcome)
