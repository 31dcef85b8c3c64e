"""``simba run``: one run of a scenario, with progress, its summary and Station mode.

:func:`run_options` is the one rule from the command line (and, in Station mode, from
``STATE_ROOT``/``CACHE_ROOT``) to :class:`~simba.engine.RunOptions`; :func:`observer`
chooses how progress is shown, also for the cells of ``simba sweep``.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from simba.cli.junit import junit_option, write_run_junit
from simba.cli.outcome import resume_command, tell
from simba.cli.terminal import Terminal, set_note_format

if TYPE_CHECKING:
    from simba.engine import Engine, RunOptions
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
    "-q",
    "--quiet",
    is_flag=True,
    help="Print only the outcome line and errors (failed attempts, the modules' ERROR lines).",
)
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
@click.option(
    "--stop-grace",
    callback=_seconds,
    help="With --api: most seconds from SIGTERM to SIMBA's end (default 4).",
)
@junit_option  # --junit FILE (simba.cli.junit)
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
    quiet: bool,
    layout: str | None,
    api: ApiRequest | None,
    stop_grace: float | None,
    junit: Path | None,
) -> None:
    """Run SCENARIO (a directory with driver.json and schedule.json, or one file).

    With --resume RUN_DIR, continue that run from its last checkpoint instead (its
    scenario is found from the run directory; the files must not have changed).

    With --api, SIMBA is a Station / Checker module: runs go under $ROOT_DIR (else
    $STATE_ROOT), the services' caches under $CACHE_ROOT; the same command resumes the
    run or serves the finished one; SIMBA never exits on its own, and SIGTERM ends it
    within --stop-grace seconds.
    """
    if api is not None:  # SIMBA as a Station / Checker module: a life cycle of its own
        from simba.cli.hosted import run_hosted_command

        run_hosted_command(api.address, api.scenario, ctx.params)
    from simba.engine import Engine

    terminal = Terminal()
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
    )
    if layout is not None:  # --layout (a resumed run keeps its own)
        options = dataclasses.replace(options, layout=layout)
    display = observer(terminal, as_json=as_json, verbose=verbose, quiet=quiet)
    engine = Engine(loaded, options, [display])
    _adopt_run_directory(engine)
    continue_with = resume_command(engine.rundir.root, timeout=timeout, jobs=jobs)
    _run_and_tell(
        engine, terminal, display, as_json=as_json, quiet=quiet, resume=continue_with, junit=junit
    )


def _run_and_tell(
    engine: Engine,
    terminal: Terminal,
    display: Any,
    *,
    as_json: bool,
    quiet: bool,
    resume: str,
    junit: Path | None = None,
) -> None:
    """Run; then the summary (``as_json``) or the module table, the failure, the outcome.

    A failure of a run that started is told here, once (see :mod:`simba.cli.outcome`),
    and ends SIMBA with its exit status; one before the start goes up to the group.
    """
    from simba.errors import SimbaError

    failure: SimbaError | None = None
    try:
        engine.run()
    except SimbaError as exc:
        if engine.summary is None:  # the run never started
            raise
        failure = exc
    finally:
        if hasattr(display, "close"):
            display.close()  # the rich display, if the run ended without a RunFinished
    summary = engine.summary
    if summary is None:
        return
    if junit is not None:  # --junit FILE (simba.cli.junit)
        write_run_junit(junit, summary)
    if as_json:
        terminal.json(summary.to_json())
    told = Terminal(out=terminal.err) if as_json else terminal
    tell(told, summary, continue_with=resume, quiet=quiet or as_json)
    if failure is not None:
        if str(failure) != summary.error:  # e.g. a record that could not be written after
            told.error(str(failure))
        raise click.exceptions.Exit(failure.exit_status)


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
) -> tuple[Scenario, RunOptions]:
    """The scenario to run and how: a new run, or a resumed one (``resume``)."""
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
    return loaded, options


def _adopt_run_directory(engine: Engine) -> None:
    """Put ``SIMBA_RUN_DIR`` into this process's environment.

    This process exists for this run, so its environment can be its modules': a
    ``local`` module that adds nothing to it inherits it instead of getting an encoded
    copy for every call (see :class:`~simba.runners.local.LocalRunner`).
    """
    os.environ["SIMBA_RUN_DIR"] = str(engine.rundir.root)


def observer(terminal: Terminal, *, as_json: bool, verbose: bool, quiet: bool = False) -> Any:
    """How a run's progress is shown: rich on a terminal, plain lines elsewhere."""
    if as_json:
        from simba.observers.plain import PlainObserver

        return PlainObserver(terminal.err, verbose=verbose, quiet=quiet)
    if terminal.rich:
        from simba.observers.progress import ProgressObserver

        return ProgressObserver(terminal.console, quiet=quiet)
    from simba.observers.plain import PlainObserver

    return PlainObserver(terminal.out, verbose=verbose, quiet=quiet)


def check_identifier(option: str, value: str | None) -> None:
    """Refuse a ``--run-id``/``--cell-id`` that is no identifier (a usage error, exit 2)."""
    from simba.names import NAME_RULE, is_name

    if value is not None and not is_name(value):
        raise click.BadParameter(f"{value!r}: {NAME_RULE}", param_hint=option)
