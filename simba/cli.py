"""The ``simba`` command: parses arguments, calls the library, renders results.

Only :class:`~simba.errors.SimbaError` is caught (its message is printed and the
process exits with its ``exit_status``); anything else is a bug and shows a traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, NoReturn

import click

from ._version import __version__
from .terminal import Terminal

SCENARIO = click.argument("scenario", type=click.Path(path_type=Path))


def _seconds(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        from .timeline import parse_duration

        try:
            seconds = parse_duration(value).total_seconds()
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from None
    if seconds <= 0:
        raise click.BadParameter("must be longer than zero")
    return seconds


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="simba")
def cli() -> None:
    """SIMBA runs co-simulations: external modules stepped together on one clock."""


@cli.command()
@click.argument("scenario", type=click.Path(path_type=Path), required=False)
@click.option(
    "--resume",
    type=click.Path(path_type=Path, file_okay=False),
    help="Continue the run in this run directory from its last checkpoint.",
)
@click.option(
    "-o",
    "--output-directory",
    type=click.Path(path_type=Path),
    help="Base directory of run directories (overrides outputDirectory).",
)
@click.option("--run-id", help="Name of the run directory (overrides runId).")
@click.option("--cell-id", help="Sub-directory for this experimental cell (overrides cellId).")
@click.option("--overwrite", is_flag=True, help="Replace an existing run directory of this runId.")
@click.option(
    "--timeout",
    callback=_seconds,
    help="Default timeout per call, in seconds or as ISO duration (PT5M).",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the run summary as JSON on stdout (progress goes to stderr).",
)
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(min=1),
    help="Most calls at once in dependency mode (default: the CPU count).",
)
@click.option("-v", "--verbose", is_flag=True, help="A line for every call.")
def run(
    scenario: Path | None,
    resume: Path | None,
    output_directory: Path | None,
    run_id: str | None,
    cell_id: str | None,
    overwrite: bool,
    timeout: float | None,
    as_json: bool,
    jobs: int | None,
    verbose: bool,
) -> None:
    """Run SCENARIO (a directory with driver.json and schedule.json, or one file).

    With --resume RUN_DIR, continue that run from its last checkpoint instead (its
    scenario is found from the run directory; the files must not have changed).
    """
    from .engine import Engine, RunOptions, resume_options
    from .jsonfile import read_json
    from .scenario import load_scenario

    terminal = Terminal()
    for name, value in (("--run-id", run_id), ("--cell-id", cell_id)):
        _check_identifier(name, value)
    if resume is not None:
        if run_id or cell_id or output_directory or overwrite:
            raise click.UsageError(
                "--resume takes the run directory as it is; leave out "
                "--run-id, --cell-id, --output-directory and --overwrite"
            )
        source, options = resume_options(resume, timeout=timeout, jobs=jobs)
        loaded = load_scenario(scenario or source)
    elif scenario is None:
        raise click.UsageError("give a SCENARIO to run, or --resume RUN_DIR")
    else:
        loaded = load_scenario(scenario)
        options = RunOptions(
            output_directory=output_directory.resolve() if output_directory else None,
            run_id=run_id,
            cell_id=cell_id,
            overwrite=overwrite,
            timeout=timeout,
            jobs=jobs,
        )
    engine = Engine(loaded, options, [_observer(terminal, as_json=as_json, verbose=verbose)])
    try:
        engine.run()
    finally:
        summary_file = engine.rundir.summary_file
        if summary_file.exists():
            summary = read_json(summary_file)
            if as_json:
                terminal.json(summary)
            else:
                _module_table(terminal, summary)


def _observer(terminal: Terminal, *, as_json: bool, verbose: bool) -> Any:
    if as_json:
        from .observers.plain import PlainObserver

        return PlainObserver(terminal.err, verbose=verbose)
    if terminal.rich:
        from .observers.progress import ProgressObserver

        return ProgressObserver(terminal.console)
    from .observers.plain import PlainObserver

    return PlainObserver(terminal.out, verbose=verbose)


def _module_table(terminal: Terminal, summary: dict[str, Any]) -> None:
    rows = [
        (name, m["calls"], m["failures"], m["wallTime"], m["meanWallTime"], m["maxWallTime"])
        for name, m in summary["modules"].items()
    ]
    terminal.table("modules", ("module", "calls", "failed", "total s", "mean s", "max s"), rows)


def _check_identifier(option: str, value: str | None) -> None:
    import re

    if value is not None and not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", value):
        raise click.BadParameter(
            f"{value!r}: use letters, digits, '_', '.' and '-', not starting with '.' or '-'",
            param_hint=option,
        )


@cli.command()
@SCENARIO
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
def validate(scenario: Path, as_json: bool) -> None:
    """Check SCENARIO without running anything; exit 2 listing every problem."""
    from .plan import Plan
    from .scenario import load_scenario

    terminal = Terminal()
    loaded = load_scenario(scenario)
    plan = Plan(loaded)
    timeline = loaded.timeline
    facts = {
        "valid": True,
        "modules": [m.name for m in loaded.modules],
        "initialTick": timeline.initial_tick,
        "finalTick": timeline.final_tick,
        "initialTime": timeline.time(timeline.initial_tick).isoformat(),
        "finalTime": timeline.time(timeline.final_tick).isoformat(),
        "calls": plan.call_count,
        "dependencyMode": loaded.dependency_mode,
    }
    if as_json:
        terminal.json(facts)
        return
    terminal.line(
        f"{scenario}: valid; {len(loaded.modules)} modules, ticks {facts['initialTick']}.."
        f"{facts['finalTick']} ({facts['initialTime']} .. {facts['finalTime']}), "
        f"{facts['calls']} calls"
    )


def _tick_range(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    if value is None:
        return None
    start, sep, stop = value.partition(":")
    try:
        return (
            (int(start) if start else None, int(stop) if stop else None)
            if sep
            else (int(start), int(start))
        )
    except ValueError:
        raise click.BadParameter("write A:B, A:, :B or A (tick numbers)") from None


@cli.command()
@SCENARIO
@click.option(
    "--ticks",
    callback=_tick_range,
    metavar="A:B",
    help="Only steps at ticks A..B (inclusive); either side may be left out.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON lines.")
def plan(scenario: Path, ticks: tuple[int | None, int | None] | None, as_json: bool) -> None:
    """Show the tick/time table and the order of calls, without running."""
    import json as jsonlib

    from .plan import Plan
    from .scenario import load_scenario

    terminal = Terminal()
    loaded = load_scenario(scenario)
    the_plan = Plan(loaded)
    timeline = loaded.timeline
    first, last = ticks if ticks else (None, None)
    rows = []
    for batch in the_plan.batches(first_tick=first, last_tick=last):
        calls = [
            c.module.name + (f"->{c.target_tick}" if c.target_tick is not None else "")
            for c in batch.calls
        ]
        time_text = timeline.time(batch.tick).isoformat()
        if as_json:
            terminal.line(
                jsonlib.dumps(
                    {
                        "mode": batch.mode.value,
                        "tick": batch.tick,
                        "time": time_text,
                        "calls": [c.module.name for c in batch.calls],
                        "targetTicks": [c.target_tick for c in batch.calls],
                    }
                )
            )
        else:
            rows.append((batch.mode.value, batch.tick, time_text, " ".join(calls)))
    if not as_json:
        terminal.table(
            f"plan of {scenario}: final tick {timeline.final_tick}, {the_plan.call_count} calls",
            ("mode", "tick", "time", "calls in order (module->target tick)"),
            rows,
        )


@cli.command()
@click.argument("name", type=click.Choice(["driver", "schedule", "module", "status"]))
def schema(name: str) -> None:
    """Print SIMBA's JSON Schema NAME (draft 2020-12)."""
    from .schemas import schema_path

    Terminal().line(schema_path(name).read_text(encoding="utf-8").rstrip())


def main(argv: list[str] | None = None) -> NoReturn:
    """Console entry point: a :class:`SimbaError` becomes its message and exit status."""
    from .errors import SimbaError

    try:
        cli.main(args=argv, prog_name="simba", standalone_mode=False)
    except click.exceptions.Abort:
        Terminal().error("aborted")
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except SimbaError as exc:
        Terminal().error(str(exc))
        sys.exit(exc.exit_status)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    sys.exit(0)
