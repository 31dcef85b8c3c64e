"""``simba run``: one run of a scenario, with progress, its summary and Station mode.

:func:`run_options` is the one rule from the command line (and, in Station mode, from
``STATE_ROOT``/``CACHE_ROOT``) to :class:`~simba.engine.RunOptions`; :func:`observer`
chooses how progress is shown, also for the cells of ``simba sweep``.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from simba.cli.session import Session
from simba.cli.terminal import Terminal, guarded, set_note_format

if TYPE_CHECKING:
    from simba.engine import Engine, RunOptions, RunSummary
    from simba.observers.station import StationObserver
    from simba.scenario import Scenario


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiRequest:
    """``--api [HOST:PORT]``: where to serve, and a SCENARIO the option took by mistake."""

    address: tuple[str, int]
    scenario: Path | None = None


def _seconds(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    if value is None:
        return None
    from simba.scenario.timeline import timeout_seconds

    try:
        number: float | str = float(value)
    except ValueError:
        number = value  # an ISO 8601 duration, or nonsense
    try:
        return timeout_seconds(number, text=value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _api_request(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> ApiRequest | None:
    """``--api [HOST:PORT]``; a value that is no address is the SCENARIO, taken by mistake."""
    if value is None:
        return None
    from simba.observers.status_server import DEFAULT_ADDRESS, looks_like_address, parse_address

    if value and (looks_like_address(value) and not Path(value).exists()):
        try:
            return ApiRequest(address=parse_address(value))
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from None
    return ApiRequest(
        address=parse_address(DEFAULT_ADDRESS), scenario=Path(value) if value else None
    )


@click.command(short_help="Run a scenario, or resume a run.")
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
    "--layout",
    type=click.Choice(["tick", "journal"]),
    help="Run directory layout (overrides runLayout): a directory per tick, or journal "
    "(files O(modules), documents in .simba/run.db; docs/layouts.rst).",
)
@click.option(
    "--api",
    metavar="[HOST:PORT]",
    is_flag=False,
    flag_value="",
    default=None,
    callback=_api_request,
    help="Run as a Station / Checker module: print 'API: http://HOST:PORT' first and serve "
    "the run's status there as JSON (default 127.0.0.1 and a free port); progress and "
    "failures go to stdout as INFO:/ERROR: lines, everything else to stderr.",
)
@click.pass_context
def run(
    ctx: click.Context,
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
    layout: str | None,
    api: ApiRequest | None,
) -> None:
    """Run SCENARIO (a directory with driver.json and schedule.json, or one file).

    With --resume RUN_DIR, continue that run from its last checkpoint instead (its
    scenario is found from the run directory; the files must not have changed).

    With --api, SIMBA is a Station / Checker module: when the scenario names no
    outputDirectory, runs go under $STATE_ROOT (or $ROOT_DIR) and the services' caches
    under $CACHE_ROOT; SIGTERM stops the run with a checkpoint for --resume.
    """
    station = None
    if api is not None:
        # First, so that the API line is the first line on stdout.
        station = ctx.ensure_object(Session).station = _serve_api(api.address)
        scenario = _scenario_after_api(scenario, api)
    from simba.engine import Engine

    terminal = Terminal() if station is None else Terminal(out=sys.stderr)
    if as_json:
        set_note_format(sys.stdout, None)  # stdout is one JSON document, nothing else
    for name, value in (("--run-id", run_id), ("--cell-id", cell_id)):
        check_identifier(name, value)
    loaded, options = run_options(
        scenario,
        resume=resume,
        output_directory=output_directory,
        run_id=run_id,
        cell_id=cell_id,
        overwrite=overwrite,
        timeout=timeout,
        jobs=jobs,
        station_environment=None if station is None else os.environ,
    )
    if layout is not None:  # scale: --layout (a resumed run keeps its own)
        options = dataclasses.replace(options, layout=layout)
    observers: list[Any] = [observer(terminal, as_json=as_json, verbose=verbose)]
    if station is not None:
        observers.insert(0, station)
    engine = Engine(loaded, options, observers)
    _adopt_run_directory(engine)
    try:
        engine.run()
    finally:
        if engine.summary is not None:  # None if the run never started
            if as_json:
                terminal.json(engine.summary.to_json())
            else:
                _module_table(terminal, engine.summary)


def run_options(
    scenario: Path | None,
    *,
    resume: Path | None,
    output_directory: Path | None,
    run_id: str | None,
    cell_id: str | None,
    overwrite: bool,
    timeout: float | None,
    jobs: int | None,
    station_environment: Mapping[str, str] | None = None,
) -> tuple[Scenario, RunOptions]:
    """The scenario to run and how: a new run, a resumed one (``resume``), in Station mode.

    ``station_environment`` (Station mode only) supplies ``STATE_ROOT``/``ROOT_DIR`` and
    ``CACHE_ROOT``.
    """
    from simba.engine import RunOptions, resume_options
    from simba.scenario import load_scenario

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
    if station_environment is not None:
        options = _station_options(loaded, options, station_environment)
    return loaded, options


def _station_options(
    scenario: Scenario, options: RunOptions, environment: Mapping[str, str]
) -> RunOptions:
    """Run options of a Station / Checker module: outputs in STATE_ROOT, caches in CACHE_ROOT.

    Only when the scenario names no outputDirectory (and no --output-directory was given).
    """
    import dataclasses

    if scenario.driver.output_directory_given:
        return options
    state_root = environment.get("STATE_ROOT") or environment.get("ROOT_DIR")
    cache_root = environment.get("CACHE_ROOT")
    if state_root and options.output_directory is None and options.resume is None:
        options = dataclasses.replace(options, output_directory=Path(state_root).resolve())
    if cache_root:
        options = dataclasses.replace(options, cache_directory=Path(cache_root).resolve())
    return options


def _adopt_run_directory(engine: Engine) -> None:
    """Put ``SIMBA_RUN_DIR`` into this process's environment.

    This process exists for this run, so its environment can be its modules': a
    ``local`` module that adds nothing to it inherits it instead of getting an encoded
    copy for every call (see :class:`~simba.runners.local.LocalRunner`).
    """
    os.environ["SIMBA_RUN_DIR"] = str(engine.rundir.root)


def _scenario_after_api(scenario: Path | None, api: ApiRequest) -> Path | None:
    """SCENARIO, also when it came right after a bare ``--api``."""
    if api.scenario is None:
        return scenario
    if scenario is not None:
        raise click.UsageError(
            f"got two scenarios ({api.scenario} and {scenario}); to give --api an address, "
            "write it as HOST:PORT"
        )
    return api.scenario


def _serve_api(address: tuple[str, int]) -> StationObserver:
    """Bind, print ``API: <url>`` as the first stdout line, serve; the station observer."""
    from simba.observers.status_server import listen, url_of

    try:
        sock = listen(*address)
    except OSError as exc:
        from simba.errors import SimbaError

        host, port = address
        raise SimbaError(f"--api: cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    Terminal().line(f"API: {url_of(sock)}")
    set_note_format(sys.stdout, "INFO: {}".format)  # the host reads INFO:/ERROR: lines
    from simba.observers.station import StationObserver
    from simba.observers.status_server import ApiServer, StatusBoard

    board = StatusBoard()
    ApiServer(sock, board).start()
    return StationObserver(guarded(sys.stdout), board)


def observer(terminal: Terminal, *, as_json: bool, verbose: bool) -> Any:
    """How a run's progress is shown: rich on a terminal, plain lines elsewhere."""
    if as_json:
        from simba.observers.plain import PlainObserver

        return PlainObserver(terminal.err, verbose=verbose)
    if terminal.rich:
        from simba.observers.progress import ProgressObserver

        return ProgressObserver(terminal.console)
    from simba.observers.plain import PlainObserver

    return PlainObserver(terminal.out, verbose=verbose)


def check_identifier(option: str, value: str | None) -> None:
    """Refuse a ``--run-id``/``--cell-id`` that is no identifier (a usage error, exit 2)."""
    from simba.names import RULE, is_identifier

    if value is not None and not is_identifier(value):
        raise click.BadParameter(f"{value!r}: {RULE}", param_hint=option)


def _module_table(terminal: Terminal, summary: RunSummary) -> None:
    rows = [
        (
            name,
            m.calls,
            m.failures,
            round(m.wall_time, 6),
            None if m.mean_wall_time is None else round(m.mean_wall_time, 6),
            round(m.max_wall_time, 6),
        )
        for name, m in summary.modules.items()
    ]
    terminal.table("modules", ("module", "calls", "failed", "total s", "mean s", "max s"), rows)
    if summary.services:
        terminal.table(
            "services",
            ("service", "api", "jobsCompleted", "exit"),
            [
                (name, s.api, s.jobs_completed, s.signal or s.exit_code)
                for name, s in summary.services.items()
            ],
        )
