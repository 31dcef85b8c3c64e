"""``simba sweep``: run the cells of a sweep file and show how each ended."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import click

from simba.cli.junit import junit_option, write_sweep_junit
from simba.cli.run import check_identifier
from simba.cli.run import observer as progress_observer
from simba.cli.terminal import Terminal

if TYPE_CHECKING:
    from simba.sweep.pool import CellOutcome, SweepResult


@click.command(short_help="Run every cell of a sweep, locally or through Parsl.")
@click.argument("sweep_file", metavar="SWEEP", type=click.Path(path_type=Path))
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(min=1),
    help="Most cells at once on this machine (default: the CPU count).",
)
@click.option(
    "--parsl",
    "use_parsl",
    is_flag=True,
    help="Run each cell as a Parsl app on the sweep file's executor (e.g. on SLURM).",
)
@click.option("--resume", is_flag=True, help="Skip finished cells; continue or rerun the others.")
@click.option("--run-id", help="Name of the sweep's directory (overrides runId).")
@click.option(
    "-o",
    "--output-directory",
    type=click.Path(path_type=Path),
    help="Base directory of the sweep's directory (overrides outputDirectory).",
)
@click.option("--overwrite", is_flag=True, help="Replace an earlier sweep of this runId.")
@click.option("--cell", "cell_id", metavar="ID", help="Run only this cell, in this process.")
@click.option("--json", "as_json", is_flag=True, help="Print sweep-summary.json on stdout.")
@junit_option  # --junit FILE (simba.cli.junit)
def sweep(
    sweep_file: Path,
    jobs: int | None,
    use_parsl: bool,
    resume: bool,
    run_id: str | None,
    output_directory: Path | None,
    overwrite: bool,
    cell_id: str | None,
    as_json: bool,
    junit: Path | None,
) -> None:
    """Run every cell of SWEEP (a sweep file: a base scenario and its cells).

    Each cell is a complete run in <outputDirectory>/<runId>/<cellId>/; a failed cell
    does not stop the others.  The summary goes to sweep-summary.json there.  Exit 1
    if any cell failed.
    """
    from simba.sweep.cells import load_sweep
    from simba.sweep.pool import SweepPool, run_cell

    terminal = Terminal()
    check_identifier("--run-id", run_id)
    loaded = load_sweep(sweep_file)
    output = output_directory.resolve() if output_directory else None
    if cell_id is not None:
        observer = progress_observer(terminal, as_json=False, verbose=False)
        run_cell(
            loaded,
            cell_id,
            output_directory=output,
            run_id=run_id,
            resume=resume,
            overwrite=overwrite,
            observers=[observer],
        )
        return

    pool = SweepPool(
        loaded,
        output_directory=output,
        run_id=run_id,
        jobs=jobs,
        parsl=use_parsl,
        resume=resume,
        overwrite=overwrite,
        on_cell=_cell_reporter(terminal.err if as_json else terminal.out),
    )
    result = pool.run()
    if junit is not None:
        write_sweep_junit(junit, result)
    if as_json:
        from simba.jsonfile import read_json

        terminal.json(read_json(result.directory / "sweep-summary.json"))
    else:
        _sweep_table(terminal, result, loaded.summary_keys)
    _check_outcomes(result)


def _check_outcomes(result: SweepResult) -> None:
    """Fail (exit 1) if any cell did not succeed."""
    from simba.errors import SimbaError

    failed = [cell.id for cell in result.cells if cell.outcome != "success"]
    if failed:
        raise SimbaError(
            f"{len(failed)} of {len(result.cells)} cells did not succeed ({', '.join(failed)}); "
            f"see {result.directory / 'sweep-summary.json'}"
        )


def _cell_reporter(stream: TextIO) -> Callable[[CellOutcome], None]:
    """A line on ``stream`` as each cell ends."""

    def report(outcome: CellOutcome) -> None:
        wall = "-" if outcome.wall_time is None else f"{outcome.wall_time:.2f} s"
        done = "" if outcome.ran else " (earlier)"
        reason = f": {outcome.error.splitlines()[0]}" if outcome.error else ""
        stream.write(f"cell {outcome.id}: {outcome.outcome}{done}, {wall}{reason}\n")
        stream.flush()

    return report


def _sweep_table(terminal: Terminal, result: SweepResult, keys: tuple[str, ...]) -> None:
    parameters = list(dict.fromkeys(k for cell in result.cells for k in cell.parameters))
    rows = [
        (
            cell.id,
            *(_short(cell.parameters.get(key)) for key in parameters),
            cell.outcome + ("" if cell.ran else " (earlier)"),
            cell.wall_time,
            *(_short(cell.common_data.get(key)) for key in keys),
        )
        for cell in result.cells
    ]
    succeeded = sum(cell.outcome == "success" for cell in result.cells)
    terminal.table(
        f"sweep {result.directory.name}: {succeeded} of {len(result.cells)} cells succeeded "
        f"-> {result.directory}",
        ("cell", *parameters, "outcome", "wall s", *keys),
        rows,
    )


def _short(value: Any) -> Any:
    """A table cell: scalars as they are, anything else as JSON of at most 30 characters."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    import json as jsonlib

    text = jsonlib.dumps(value)
    return text if len(text) <= 30 else text[:27] + "..."
