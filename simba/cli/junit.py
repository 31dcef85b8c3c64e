"""``--junit FILE`` of ``simba run`` and ``simba sweep``: the option, and the file written.

The commands stay as they are but for the option and one call at their end; what goes
into the file is :mod:`simba.compare.cases`' business (a test case per run, per cell).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from simba.engine import RunSummary
    from simba.sweep.pool import SweepResult

F = TypeVar("F", bound=Any)


def junit_option(function: F) -> F:
    """The ``--junit FILE`` option (parameter ``junit``)."""
    option = click.option(
        "--junit",
        type=click.Path(path_type=Path, dir_okay=False),
        help="Also write the outcome as JUnit XML to this file (for CI test reports).",
    )
    return option(function)


def write_run_junit(path: Path, summary: RunSummary) -> None:
    """One test case: the run, named by its id."""
    from simba.compare.cases import Ended, runs_suite
    from simba.compare.junit import write_junit

    ended = Ended(
        name=summary.run_id,
        outcome=summary.outcome,
        wall_time=summary.wall_time,
        error=summary.error,
        run_directory=summary.run_directory,
    )
    suite = runs_suite(f"simba run {summary.run_id}", [ended], classname="simba.run")
    write_junit(path, [suite], name="simba run")


def write_sweep_junit(path: Path, result: SweepResult) -> None:
    """A test case per cell, named by its id; a failed cell carries its log's tail."""
    from simba.compare.cases import Ended, runs_suite
    from simba.compare.junit import write_junit
    from simba.sweep.directory import SweepDirectory

    directory = SweepDirectory(result.directory)
    cells = [
        Ended(
            name=cell.id,
            outcome=cell.outcome,
            wall_time=cell.wall_time,
            error=cell.error,
            run_directory=cell.run_directory,
            log=directory.log(cell.id),
        )
        for cell in result.cells
    ]
    name = f"simba sweep {result.directory.name}"
    write_junit(path, [runs_suite(name, cells, classname="simba.sweep")], name="simba sweep")
