"""``simba compare`` and ``simba baseline save``: runs as regression tests (DESIGN §14)."""

from __future__ import annotations

import time
from pathlib import Path

import click

from simba.cli.terminal import Terminal

SIDE = click.Path(path_type=Path)


@click.command(short_help="Compare two runs, two sweeps, or a run with a baseline.")
@click.argument("a", metavar="A", type=SIDE)
@click.argument("b", metavar="B", type=SIDE)
@click.option(
    "--rules",
    type=click.Path(path_type=Path, dir_okay=False),
    help="A rules file (schema/compare.json): tolerances per key, keys to ignore.",
)
@click.option(
    "--absolute", type=click.FloatRange(min=0), help="Global absolute tolerance of numbers."
)
@click.option(
    "--relative", type=click.FloatRange(min=0), help="Global relative tolerance of numbers."
)
@click.option(
    "--ignore",
    "ignored",
    metavar="KEY",
    multiple=True,
    help="Leave out this key (a key path, module:key path, or glob); repeatable.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
@click.option("--markdown", is_flag=True, help="Print the comparison as Markdown (a PR comment).")
@click.option(
    "--junit",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Also write the comparison as JUnit XML to this file.",
)
def compare(
    a: Path,
    b: Path,
    rules: Path | None,
    absolute: float | None,
    relative: float | None,
    ignored: tuple[str, ...],
    as_json: bool,
    markdown: bool,
    junit: Path | None,
) -> None:
    """Compare A with B: run directories, sweep directories (cell by cell) or baselines.

    Compares the outcome, the calls and their outcomes, and every commonData and
    moduleData key's history over simulated time (numbers within the tolerances);
    shows wall time per module for information only.  Exit 0 when equal within
    tolerance, 1 when different, 2 for bad usage.
    """
    from simba.compare.diff import compare_sides
    from simba.compare.render import markdown as to_markdown
    from simba.compare.render import text_lines, to_json
    from simba.compare.rules import load_rules
    from simba.compare.sides import load_side

    if as_json and markdown:
        raise click.UsageError("give --json or --markdown, not both")
    started = time.monotonic()
    loaded = load_rules(rules).with_options(absolute=absolute, relative=relative, ignore=ignored)
    result = compare_sides(load_side(a), load_side(b), loaded, labels=(str(a), str(b)))
    terminal = Terminal()
    if as_json:
        terminal.json(to_json(result))
    elif markdown:
        terminal.line(to_markdown(result))
    else:
        terminal.lines(text_lines(result))
    if junit is not None:
        from simba.compare.cases import comparison_suites
        from simba.compare.junit import write_junit

        suites = comparison_suites(result, elapsed=time.monotonic() - started)
        write_junit(junit, suites, name="simba compare")
    if not result.equal:
        raise click.exceptions.Exit(1)


@click.group("baseline", short_help="Save a run as a baseline to compare later runs with.")
def baseline_group() -> None:
    """Baselines: small, self-contained records of a run for simba compare."""


@baseline_group.command("save", short_help="Save a run (or a sweep) as a baseline file.")
@click.argument("run_dir", metavar="RUN_DIR", type=click.Path(path_type=Path, file_okay=False))
@click.argument("destination", metavar="DEST", type=click.Path(path_type=Path, dir_okay=False))
def save(run_dir: Path, destination: Path) -> None:
    """Save the run (or sweep) in RUN_DIR as the baseline file DEST (canonical JSON).

    DEST holds what simba compare reads (the calls, the state history, the times), no
    tick directories: keep it in the repository and compare later runs with it.
    """
    from simba.compare.sides import save_baseline

    runs = save_baseline(run_dir, destination)
    size = destination.stat().st_size
    what = "1 run" if list(runs) == [""] else f"{len(runs)} cells"
    Terminal().line(f"saved {what} of {run_dir} as {destination} ({size / 1000:.1f} kB)")
