"""``simba report RUN_DIR [-o report.html]``: one self-contained HTML file about a run or sweep."""

from __future__ import annotations

from pathlib import Path

import click

from simba.cli.terminal import Terminal


@click.command(short_help="Write an offline HTML report of a run or a sweep.")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Where to write the report (default: RUN_DIR/report.html).",
)
def report(run_dir: Path, output: Path | None) -> None:
    """Write one HTML file about RUN_DIR (a run, finished or not, or a sweep).

    The file is self-contained: it opens offline in any browser and makes no network
    request.  It shows the outcome and its cause, a timeline of every call, each
    module's times and resources, charts of every numeric key over simulated time, the
    module graph, failures and warnings, services; for a sweep, its cells.
    """
    from simba.report.page import write

    target = write(run_dir, output)
    Terminal().line(f"report: {target}")
