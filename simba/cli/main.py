"""The ``simba`` command: parses arguments, calls the library, renders results.

Only :class:`~simba.errors.SimbaError` is caught (its message is printed and the
process exits with its ``exit_status``); anything else is a bug and shows a traceback.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, NoReturn

import click

from simba._version import __version__
from simba.cli.terminal import Terminal

SCENARIO = click.argument("scenario", type=click.Path(path_type=Path))

#: The Station observer of ``simba run --api``, so that :func:`main` reports a failure
#: that ends SIMBA before the run does as an ``ERROR:`` line on stdout too.
_STATION: Any = None
_API_SCENARIO = "simba.api_scenario"


def _seconds(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        from simba.scenario.timeline import parse_duration

        try:
            seconds = parse_duration(value).total_seconds()
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from None
    if seconds <= 0:
        raise click.BadParameter("must be longer than zero")
    return seconds


def _api_address(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> tuple[str, int] | None:
    """``--api [HOST:PORT]``; a value that is no address is the SCENARIO, taken by mistake."""
    if value is None:
        return None
    from simba.observers.status_server import DEFAULT_ADDRESS, looks_like_address, parse_address

    if value and (looks_like_address(value) and not Path(value).exists()):
        try:
            return parse_address(value)
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from None
    if value:
        ctx.meta[_API_SCENARIO] = value
    return parse_address(DEFAULT_ADDRESS)


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
@click.option(
    "--api",
    metavar="[HOST:PORT]",
    is_flag=False,
    flag_value="",
    default=None,
    callback=_api_address,
    help="Run as a Station / Checker module: print 'API: http://HOST:PORT' first and serve "
    "the run's status there as JSON (default 127.0.0.1 and a free port); progress and "
    "failures go to stdout as INFO:/ERROR: lines, everything else to stderr.",
)
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
    api: tuple[str, int] | None,
) -> None:
    """Run SCENARIO (a directory with driver.json and schedule.json, or one file).

    With --resume RUN_DIR, continue that run from its last checkpoint instead (its
    scenario is found from the run directory; the files must not have changed).

    With --api, SIMBA is a Station / Checker module: when the scenario names no
    outputDirectory, runs go under $STATE_ROOT (or $ROOT_DIR) and the services' caches
    under $CACHE_ROOT; SIGTERM stops the run with a checkpoint for --resume.
    """
    station = _serve_api(api) if api is not None else None  # first: the API line
    scenario = _scenario_after_api(scenario)
    from simba.engine import Engine, RunOptions, resume_options
    from simba.scenario.loader import load_scenario

    terminal = Terminal() if station is None else Terminal(out=sys.stderr)
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
    observers: list[Any] = [_observer(terminal, as_json=as_json, verbose=verbose)]
    if station is not None:
        options = _station_options(loaded, options)
        observers.insert(0, station)
    engine = Engine(loaded, options, observers)
    # This process exists for this run: its environment can be its modules' (see LocalRunner).
    os.environ["SIMBA_RUN_DIR"] = str(engine.rundir.root)
    try:
        engine.run()
    finally:
        if engine.summary is not None:  # None if the run never started
            if as_json:
                terminal.json(engine.summary.to_json())
            else:
                _module_table(terminal, engine.summary.to_json())


def _scenario_after_api(scenario: Path | None) -> Path | None:
    """SCENARIO, also when it came right after a bare ``--api``."""
    taken = click.get_current_context().meta.get(_API_SCENARIO)
    if taken is None:
        return scenario
    if scenario is not None:
        raise click.UsageError(
            f"got two scenarios ({taken} and {scenario}); to give --api an address, "
            "write it as HOST:PORT"
        )
    return Path(taken)


def _serve_api(address: tuple[str, int]) -> Any:
    """Bind, print ``API: <url>`` as the first stdout line, serve; the station observer."""
    global _STATION
    from simba.observers.status_server import listen, url_of

    try:
        sock = listen(*address)
    except OSError as exc:
        from simba.errors import SimbaError

        host, port = address
        raise SimbaError(f"--api: cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    Terminal().line(f"API: {url_of(sock)}")
    from simba.observers.station import StationObserver
    from simba.observers.status_server import ApiServer, StatusBoard

    board = StatusBoard()
    ApiServer(sock, board).start()
    _STATION = StationObserver(sys.stdout, board)
    return _STATION


def _station_options(scenario: Any, options: Any) -> Any:
    """Run options of a Station / Checker module: outputs in STATE_ROOT, caches in CACHE_ROOT.

    Only when the scenario names no outputDirectory (and no --output-directory was given).
    """
    import dataclasses
    import os

    if scenario.driver.output_directory_given:
        return options
    state_root = os.environ.get("STATE_ROOT") or os.environ.get("ROOT_DIR")
    cache_root = os.environ.get("CACHE_ROOT")
    if state_root and options.output_directory is None and options.resume is None:
        options = dataclasses.replace(options, output_directory=Path(state_root).resolve())
    if cache_root:
        options = dataclasses.replace(options, cache_directory=Path(cache_root).resolve())
    return options


def _observer(terminal: Terminal, *, as_json: bool, verbose: bool) -> Any:
    if as_json:
        from simba.observers.plain import PlainObserver

        return PlainObserver(terminal.err, verbose=verbose)
    if terminal.rich:
        from simba.observers.progress import ProgressObserver

        return ProgressObserver(terminal.console)
    from simba.observers.plain import PlainObserver

    return PlainObserver(terminal.out, verbose=verbose)


def _module_table(terminal: Terminal, summary: dict[str, Any]) -> None:
    rows = [
        (name, m["calls"], m["failures"], m["wallTime"], m["meanWallTime"], m["maxWallTime"])
        for name, m in summary["modules"].items()
    ]
    terminal.table("modules", ("module", "calls", "failed", "total s", "mean s", "max s"), rows)
    services = summary.get("services")
    if services:
        terminal.table(
            "services",
            ("service", "api", "jobsCompleted", "exit"),
            [
                (name, s["api"], s["jobsCompleted"], s["signal"] or s["exitCode"])
                for name, s in services.items()
            ],
        )


def _check_identifier(option: str, value: str | None) -> None:
    from simba.names import RULE, is_identifier

    if value is not None and not is_identifier(value):
        raise click.BadParameter(f"{value!r}: {RULE}", param_hint=option)


@cli.command()
@SCENARIO
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
def validate(scenario: Path, as_json: bool) -> None:
    """Check SCENARIO without running anything; exit 2 listing every problem."""
    from simba.plan import Plan
    from simba.scenario.loader import load_scenario

    terminal = Terminal()
    loaded = load_scenario(scenario)
    plan = Plan(loaded)
    timeline = loaded.timeline
    facts = {
        "valid": True,
        "modules": [m.name for m in loaded.modules],
        "services": [m.name for m in loaded.services],
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
        f"{scenario}: valid; {len(loaded.modules)} modules"
        + (f" and {len(loaded.services)} service(s)" if loaded.services else "")
        + f", ticks {facts['initialTick']}.."
        f"{facts['finalTick']} ({facts['initialTime']} .. {facts['finalTime']}), "
        f"{facts['calls']} calls"
    )


def _tick_range(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    if value is None:
        return None
    start, sep, stop = value.partition(":")
    try:
        first, last = (
            (int(start) if start else None, int(stop) if stop else None)
            if sep
            else (int(start), int(start))
        )
    except ValueError:
        raise click.BadParameter("write A:B, A:, :B or A (tick numbers)") from None
    if first is not None and last is not None and first > last:
        raise click.BadParameter(f"the range {value} is empty; write the smaller tick first")
    return first, last


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

    from simba.plan import Plan
    from simba.scenario.loader import load_scenario

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
@click.argument(
    "name",
    type=click.Choice(["driver", "schedule", "module", "status", "descriptor", "sweep"]),
)
def schema(name: str) -> None:
    """Print SIMBA's JSON Schema NAME (draft 2020-12)."""
    from simba.schemas import schema_path

    Terminal().line(schema_path(name).read_text(encoding="utf-8").rstrip())


@cli.group("module")
def module_group() -> None:
    """Module packages: create, pack, install, list, show and remove them.

    Packages are installed under $SIMBA_HOME/modules (default ~/.local/share/simba).
    """


@module_group.command("new")
@click.argument("name")
@click.option(
    "--lang",
    type=click.Choice(["python", "sh"]),
    default="python",
    show_default=True,
    help="python: a module written with the SDK; sh: a POSIX sh script.",
)
@click.option(
    "-d",
    "--directory",
    type=click.Path(path_type=Path, file_okay=False),
    help="Where to create the module (default: ./NAME without its namespace).",
)
def module_new(name: str, lang: str, directory: Path | None) -> None:
    """Create a module that validates, runs and packs as is.

    NAME is [NAMESPACE/]NAME (namespace default: local).  The directory gets
    descriptor.json, the module, tests/test_module.py and a sample scenario.json.
    """
    from simba.packages.scaffold import new_module

    created = new_module(name, lang=lang, directory=directory)
    terminal = Terminal()
    terminal.line(f"created {created.full_name} ({lang}) in {created.directory}:")
    for file in created.files:
        terminal.line(f"  {file}")
    terminal.line(
        f"next: simba run {created.directory / 'scenario.json'}; "
        f"simba module pack {created.directory}"
    )


@module_group.command("pack")
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False))
@click.option(
    "-o",
    "--output-directory",
    type=click.Path(path_type=Path, file_okay=False),
    help="Where to write the archive (default: the working directory).",
)
def module_pack(directory: Path, output_directory: Path | None) -> None:
    """Pack a module directory into a ZIP archive.

    Writes <namespace>-<name>-<version>.zip; the same sources give the same sha256.
    """
    from simba.packages.store import pack

    result = pack(directory, output_directory)
    terminal = Terminal()
    terminal.line(f"packed {result.descriptor.ident} ({result.files} files): {result.archive}")
    terminal.line(f"sha256 {result.sha256}")


@module_group.command("install")
@click.argument("archive", type=click.Path(path_type=Path))
@click.option(
    "--force", is_flag=True, help="Replace an installed version made from a different archive."
)
def module_install(archive: Path, force: bool) -> None:
    """Install a package archive, refusing unsafe ones.

    Every entry of ARCHIVE is checked before anything is written; installing the same
    archive again does nothing.
    """
    from simba.packages.store import install

    result = install(archive, force=force)
    package = result.package
    if result.action == "unchanged":
        Terminal().line(f"{package.ident} is already installed from this archive; nothing to do")
        return
    Terminal().line(f"{result.action} {package.ident} into {package.directory}")


@module_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the packages as JSON.")
def module_list(as_json: bool) -> None:
    """List the installed packages."""
    from simba.packages.store import modules_root, scan

    packages, damaged = scan()
    terminal = Terminal()
    for sentence in damaged:
        terminal.err.write(f"warning: {sentence}\n")
    if as_json:
        terminal.json([_package_facts(p) for p in packages])
        return
    if not packages:
        terminal.line(f"no packages installed in {modules_root()}")
        return
    rows = [
        (p.descriptor.full_name, str(p.descriptor.version), p.descriptor.description)
        for p in packages
    ]
    terminal.table(f"packages in {modules_root()}", ("package", "version", "description"), rows)


@module_group.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the package's facts as JSON.")
def module_show(name: str, as_json: bool) -> None:
    """Show an installed package.

    NAME is NAMESPACE/NAME, optionally with @VERSION or @RANGE (default: the newest).
    """
    import json as jsonlib

    from simba.packages.store import resolve

    facts = _package_facts(resolve(name))
    terminal = Terminal()
    if as_json:
        terminal.json(facts)
        return
    for key, value in facts.items():
        if value in (None, "", [], {}):
            continue
        text = value if isinstance(value, str) else jsonlib.dumps(value, ensure_ascii=False)
        terminal.line(f"{key + ':':<18} {text}")


@module_group.command("remove")
@click.argument("name")
def module_remove(name: str) -> None:
    """Remove installed versions of a package.

    NAME is NAMESPACE/NAME[@VERSION or @RANGE]; without @, every version is removed.
    """
    from simba.packages.store import remove

    for package in remove(name):
        Terminal().line(f"removed {package.ident} ({package.directory})")


def _package_facts(package: Any) -> dict[str, Any]:
    descriptor = package.descriptor
    requires = descriptor.document.get("requires", {})
    return {
        "name": descriptor.full_name,
        "version": str(descriptor.version),
        "description": descriptor.description,
        "authors": list(descriptor.authors),
        "license": descriptor.license,
        "homepage": descriptor.homepage,
        "command": descriptor.document["command"],
        "requires": requires,
        "moduleDataSchema": descriptor.module_data_schema,
        "directory": str(package.directory),
        "archive": package.archive,
        "sha256": package.sha256,
    }


@cli.command()
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
) -> None:
    """Run every cell of SWEEP (a sweep file: a base scenario and its cells).

    Each cell is a complete run in <outputDirectory>/<runId>/<cellId>/; a failed cell
    does not stop the others.  The summary goes to sweep-summary.json there.  Exit 1
    if any cell failed.
    """
    from simba.errors import SimbaError
    from simba.sweep.cells import SweepRunner, load_sweep, run_cell

    terminal = Terminal()
    _check_identifier("--run-id", run_id)
    loaded = load_sweep(sweep_file)
    output = output_directory.resolve() if output_directory else None
    if cell_id is not None:
        observer = _observer(terminal, as_json=False, verbose=False)
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

    def report(outcome: Any) -> None:
        wall = "-" if outcome.wall_time is None else f"{outcome.wall_time:.2f} s"
        done = "" if outcome.ran else " (earlier)"
        reason = f": {outcome.error.splitlines()[0]}" if outcome.error else ""
        stream = terminal.err if as_json else terminal.out
        stream.write(f"cell {outcome.id}: {outcome.outcome}{done}, {wall}{reason}\n")
        stream.flush()

    runner = SweepRunner(
        loaded,
        output_directory=output,
        run_id=run_id,
        jobs=jobs,
        parsl=use_parsl,
        resume=resume,
        overwrite=overwrite,
        on_cell=report,
    )
    result = runner.run()
    if as_json:
        from simba.jsonfile import read_json

        terminal.json(read_json(result.directory / "sweep-summary.json"))
    else:
        _sweep_table(terminal, result, loaded.summary_keys)
    failed = [cell.id for cell in result.cells if cell.outcome != "success"]
    if failed:
        raise SimbaError(
            f"{len(failed)} of {len(result.cells)} cells did not succeed ({', '.join(failed)}); "
            f"see {result.directory / 'sweep-summary.json'}"
        )


def _sweep_table(terminal: Terminal, result: Any, keys: tuple[str, ...]) -> None:
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


def main(argv: list[str] | None = None) -> NoReturn:
    """Console entry point: a :class:`SimbaError` becomes its message and exit status."""
    from simba.errors import SimbaError

    try:
        cli.main(args=argv, prog_name="simba", standalone_mode=False)
    except click.exceptions.Abort:
        Terminal().error("aborted")
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except SimbaError as exc:
        if _STATION is not None:
            _STATION.fail(str(exc))
        Terminal().error(str(exc))
        sys.exit(exc.exit_status)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    sys.exit(0)
