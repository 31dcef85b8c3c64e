"""``simba status`` and ``simba export``: look at a run (or a sweep) while it runs or after."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from simba.cli.terminal import Terminal, set_note_format

if TYPE_CHECKING:
    from simba.record.reader import RunRecord
    from simba.record.status import RunStatus
    from simba.sweep.status import SweepStatus

    Status = RunStatus | SweepStatus

DIRECTORY = click.argument(
    "directory", metavar="RUN_DIR", type=click.Path(path_type=Path, file_okay=False)
)


@click.command(short_help="Show how a run (or a sweep) is doing, or how it ended.")
@DIRECTORY
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@click.option("--watch", is_flag=True, help="Refresh until the run ends.")
@click.option(
    "--interval",
    type=click.FloatRange(min=0.05),
    default=1.0,
    show_default=True,
    help="Seconds between two looks, with --watch.",
)
def status(directory: Path, as_json: bool, watch: bool, interval: float) -> None:
    """Show the state of the run in RUN_DIR: tick, calls, the module running now, ETA,
    the last error, whether its driver is alive and, if it stopped, how to resume it.

    RUN_DIR may be a sweep's directory: then each cell's state.  Reads the run's
    database while the run writes it; never disturbs the run.  With --watch, refreshes
    until the run ends (on a terminal in place; elsewhere one line, or with --json one
    JSON document per line, each time something changes).
    """
    terminal = Terminal()
    if not watch:
        current = _look(directory)
        if as_json:
            terminal.json(current.to_json())
        else:
            terminal.lines(_describe(current))
        return
    _watch(terminal, directory, as_json=as_json, interval=interval)


def _look(directory: Path) -> Status:
    from simba.errors import RunDirectoryError
    from simba.record.status import is_run_directory, run_status
    from simba.sweep.status import is_sweep_directory, sweep_status

    if is_sweep_directory(directory):
        return sweep_status(directory)
    if is_run_directory(directory):
        return run_status(directory)
    why = "does not exist" if not directory.exists() else "has neither .simba/ nor .sweep/"
    raise RunDirectoryError(
        f"{directory} is not a SIMBA run or sweep directory (it {why}); give the directory "
        "of a run, <outputDirectory>/<runId>, as simba run printed it"
    )


def _watch(terminal: Terminal, directory: Path, *, as_json: bool, interval: float) -> None:
    import json

    redraw = terminal.rich and not as_json
    shown: Any = None
    while True:
        current = _look(directory)
        if redraw:
            terminal.out.write("\x1b[H\x1b[J")  # the screen cleared, the status drawn again
            terminal.lines(_describe(current))
        else:
            line = json.dumps(current.to_json()) if as_json else _one_line(current)
            key = _change_key(current) if as_json else line
            if key != shown:
                shown = key
                terminal.line(line)
        if current.finished:
            return
        time.sleep(interval)


def _change_key(current: Status) -> Any:
    """What must differ for --watch to print again (not the seconds that pass)."""
    document = current.to_json()
    document.pop("etaSeconds", None)
    document.pop("wallSeconds", None)
    for call in document.get("running", ()):
        call.pop("seconds", None)
    for cell in document.get("cells", ()):
        cell.pop("run", None)
    return repr(document)


# -- rendering ------------------------------------------------------------------------------


def _describe(current: Status) -> list[str]:
    from simba.record.status import RunStatus

    if isinstance(current, RunStatus):
        return _describe_run(current)
    return _describe_sweep(current)


def _describe_run(run: RunStatus) -> list[str]:
    lines = [f"run {run.run_id or run.directory.name} in {run.directory}", f"state:   {run.state}"]
    if run.note:
        lines.append(f"note:    {run.note}")
    if run.tick is not None:
        span = f" of {run.initial_tick}..{run.final_tick}" if run.final_tick is not None else ""
        at = f" (simulated time {run.time})" if run.time else ""
        lines.append(f"tick:    {run.tick}{span}{at}")
    if run.calls_done is not None:
        planned = f" of {run.planned_calls}" if run.planned_calls is not None else ""
        tried = f" ({run.attempts} attempts)" if run.attempts is not None else ""
        lines.append(f"calls:   {run.calls_done}{planned} done{tried}")
    for call in run.running:
        lines.append(
            f"running: {call.module} ({call.mode} at tick {call.tick}, attempt {call.attempt})"
            f" for {_duration(call.seconds)}"
        )
    if run.eta_seconds is not None:
        lines.append(f"ETA:     {_duration(run.eta_seconds)}")
    lines.append(f"driver:  {_driver(run)}")
    if run.last_error:
        lines.append(f"error:   {run.last_error}")
    if run.resume_command:
        lines.append(f"resume:  {run.resume_command}")
    return lines


def _driver(run: RunStatus) -> str:
    driver = run.driver
    where = f"pid {driver.pid}" if driver.pid else "no pid recorded"
    where += f" on {driver.host}" if driver.host else ""
    if driver.alive:
        return f"alive ({where})"
    if driver.alive is None:
        return f"cannot tell from this machine ({where})"
    if run.state in ("success", "failed", "interrupted"):
        return f"ended ({where})"
    return f"gone before the end ({where}): killed, or its machine went down"


def _describe_sweep(sweep: SweepStatus) -> list[str]:
    counts = ", ".join(
        f"{sweep.count(state)} {state}" for state in ("done", "failed", "running", "pending")
    )
    alive = {True: "alive", False: "not running", None: "cannot tell"}[sweep.alive]
    lines = [
        f"sweep in {sweep.directory}",
        f"state:   {sweep.state} (sweep driver {alive})",
        f"cells:   {counts} ({len(sweep.cells)} in all)",
    ]
    width = max((len(cell.id) for cell in sweep.cells), default=0)
    for cell in sweep.cells:
        lines.append(f"  {cell.id.ljust(width)}  {cell.state.ljust(7)}  {_cell_detail(cell.run)}")
    if sweep.resume_command:
        lines.append(f"resume:  {sweep.resume_command}")
    return [line.rstrip() for line in lines]


def _cell_detail(run: RunStatus | None) -> str:
    if run is None:
        return ""
    parts = []
    if run.tick is not None:
        parts.append(f"tick {run.tick}")
    if run.calls_done is not None and run.planned_calls is not None:
        parts.append(f"calls {run.calls_done}/{run.planned_calls}")
    parts += [f"running {call.module}" for call in run.running]
    return ", ".join(parts)


def _one_line(current: Status) -> str:
    from simba.record.status import RunStatus

    if not isinstance(current, RunStatus):
        counts = " ".join(f"{s}={current.count(s)}" for s in ("done", "failed", "running"))
        return f"{current.state} cells: {counts} pending={current.count('pending')}"
    words: list[str] = [current.state]
    if current.tick is not None:
        words.append(f"tick={current.tick}")
    if current.calls_done is not None:
        words.append(f"calls={current.calls_done}/{current.planned_calls or '?'}")
    words += [f"running={call.module}@{call.tick}" for call in current.running]
    if current.resume_command:
        words.append(f"resume: {current.resume_command}")
    return " ".join(words)


def _duration(seconds: float) -> str:
    whole = round(seconds)
    if whole < 60:
        return f"{seconds:.1f} s"
    hours, rest = divmod(whole, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


# -- export ---------------------------------------------------------------------------------


@click.command(short_help="Write a run's state history as a CSV or Parquet table.")
@DIRECTORY
@click.option("--wide", is_flag=True, help="One column per numeric key, one row per tick.")
@click.option(
    "--format",
    "file_format",
    type=click.Choice(["csv", "parquet"]),
    default="csv",
    show_default=True,
    help="parquet needs the extra: pip install 'simba-cosim[parquet]'.",
)
@click.option(
    "--keys",
    multiple=True,
    metavar="PATTERN",
    help="Only these keys: key paths or glob patterns, repeated or comma-separated "
    "(population, grid.*, epi:beta).",
)
@click.option(
    "-o", "--output", type=click.Path(path_type=Path, dir_okay=False), help="Default: stdout."
)
def export(
    directory: Path, wide: bool, file_format: str, keys: tuple[str, ...], output: Path | None
) -> None:
    """Write the state history of the run in RUN_DIR: every commonData and moduleData
    value each successful call set, as a table.

    Long form (default): tick, time, module, mode, scope, key, value, in plan order.
    --wide: tick, time and one column per numeric key, one row per tick, each value
    carried forward to the ticks after it.  A resumed run exports exactly what an
    uninterrupted run exports.
    """
    from simba.record import export as tables

    patterns = [word.strip() for group in keys for word in group.split(",") if word.strip()]
    selected = tables.KeyFilter(patterns)
    parquet = file_format == "parquet"
    if parquet:
        _check_parquet(output)
    with _open_history(directory) as record:
        if wide:
            table = tables.wide_table(record, selected)
            _write(
                output,
                parquet,
                lambda out: tables.write_wide_csv(table, out),
                lambda out: tables.wide_parquet(table, out),
            )
        else:
            rows = list(tables.long_rows(record, selected))
            _write(
                output,
                parquet,
                lambda out: tables.write_long_csv(rows, out),
                lambda out: tables.long_parquet(rows, out),
            )


def _open_history(directory: Path) -> RunRecord:
    from simba.errors import RunDirectoryError
    from simba.record.reader import database_path, open_record
    from simba.record.status import is_run_directory
    from simba.sweep.status import is_sweep_directory

    if is_sweep_directory(directory):
        raise RunDirectoryError(
            f"{directory} is a sweep; export one of its cells: simba export "
            f"{directory / '<cellId>'} (simba status {directory} lists them)"
        )
    if not is_run_directory(directory):
        _look(directory)  # the same refusal as simba status for what is no run
    path = database_path(directory)
    if not path.is_file():
        raise RunDirectoryError(
            f"{directory} has no run database (.simba/run.db): it was made by a SIMBA from "
            "before the database, which kept no state history (its .simba/summary.json "
            "holds the final state); run the scenario again to export its history"
        )
    return open_record(path)


def _check_parquet(output: Path | None) -> None:
    from simba.errors import OptionsError

    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise OptionsError(
            "--format parquet needs pyarrow, which is not installed; install it with: "
            "pip install 'simba-cosim[parquet]' (or use the default, --format csv)"
        ) from None
    if output is None and sys.stdout.isatty():
        raise OptionsError("Parquet is binary: give a file with -o FILE, or pipe the output")


def _write(output: Path | None, parquet: bool, as_csv: Any, as_parquet: Any) -> None:
    """Write to ``output`` whole or not at all (a temporary file renamed), or to stdout."""
    if output is None:
        if parquet:
            as_parquet(sys.stdout.buffer)
            sys.stdout.buffer.flush()
        else:
            terminal = Terminal()
            set_note_format(terminal.err, None)  # `simba export RUN | head` stops quietly
            as_csv(terminal.out)
            terminal.out.flush()
        return
    partial = output.with_name(f".{output.name}.{os.getpid()}.partial")
    try:
        if parquet:
            with partial.open("wb") as handle:
                as_parquet(handle)
        else:
            with partial.open("w", encoding="utf-8", newline="") as text:
                as_csv(text)
        partial.replace(output)
    except OSError as exc:
        from simba.errors import RunDirectoryError

        partial.unlink(missing_ok=True)
        raise RunDirectoryError(f"cannot write {output}: {exc.strerror or exc}") from None
