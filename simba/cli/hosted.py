"""``simba run --api``: SIMBA's life cycle as a Station / Checker module (DESIGN §9, issue 14).

A host (Station Core, Station Desktop, Checker Node) starts its module with one fixed
command, reads ``API:``, ``INFO:`` and ``ERROR:`` lines from its stdout, polls the API
for ``jobsCompleted``, treats every exit as a crash and restarts the same command, and
stops it with SIGTERM, then SIGKILL 5 s later.  So under ``--api``:

1. ``API: http://HOST:PORT/`` is the first stdout line, before anything is loaded;
   SIGTERM and SIGINT are caught from then on.
2. The run has a stable identity: ``--run-id``, else the scenario's ``runId``, else one
   derived from the scenario (:func:`derived_run_id`), under the module's root
   (:func:`module_root`).  A run directory that exists is resumed; one whose summary
   says it ended is not run again: its final state is served.
3. ``jobsCompleted`` is the module's lifetime count
   (:class:`~simba.observers.lifetime.LifetimeJobs`).
4. When the run has ended, whatever the outcome, SIMBA goes on serving the final state
   and says it again every :data:`REMIND_INTERVAL` seconds, until a signal (or until
   its stdout breaks: then the host has gone, and SIMBA exits).
5. A signal: ``INFO: stopping …`` at once; the run stops as ``simba run`` stops one;
   :attr:`HostedRequest.grace` minus 1 s after the signal whatever of the run still runs is
   SIGKILLed, and at the grace SIMBA ends whatever it is doing.  It ends *by the
   signal it got* (SIGTERM: the process is killed by SIGTERM, a shell shows 143):
   Checker Node counts a module ended by SIGTERM, SIGINT or SIGKILL as stopped from
   outside, not as a crash, while any exit status, 0 included, is a crash to it (and
   to Station Core, which restarts its module after every end).
6. A :class:`~simba.leftovers.Guard` SIGKILLs the run's processes if SIMBA is SIGKILLed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from simba.cli.terminal import Terminal, guarded, set_note_format

if TYPE_CHECKING:
    from simba.engine import RunOptions
    from simba.observers.station import StationObserver
    from simba.scenario import Scenario

#: Seconds from SIGTERM to SIMBA's end, by default (the hosts SIGKILL at 5 s).
STOP_GRACE = 4.0
#: Seconds before the end of the grace at which what still runs of the run is SIGKILLed.
KILL_MARGIN = 1.0
#: Seconds between two reminders of a finished run's outcome.
REMIND_INTERVAL = 60.0
#: Seconds between two looks at the calls that run (the heartbeat).
HEARTBEAT_TICK = 5.0


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class HostedRequest:
    """What ``simba run --api`` was asked to do."""

    address: tuple[str, int]
    scenario: Path | None
    scenario_after_api: Path | None = None
    """A SCENARIO that came right after a bare ``--api``."""
    resume: Path | None = None
    output_directory: Path | None = None
    run_id: str | None = None
    cell_id: str | None = None
    overwrite: bool = False
    timeout: float | None = None
    jobs: int | None = None
    verbose: bool = False
    grace: float = STOP_GRACE


def module_root(environment: Mapping[str, str]) -> Path | None:
    """The module's own directory: ``ROOT_DIR`` (Station gives each module its own),
    else ``STATE_ROOT`` (Checker's and a bare Core's); ``None`` outside a host."""
    root = environment.get("ROOT_DIR") or environment.get("STATE_ROOT")
    return Path(root).resolve() if root else None


def derived_run_id(scenario: Scenario) -> str:
    """A run id that stays the same for the same scenario files: name and fingerprint."""
    source = scenario.source
    stem = source.parent.name if source.name in ("schedule.json", "driver.json") else source.stem
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", stem or "run").strip(".-")
    return f"{name[:64] or 'run'}-{scenario.fingerprint[:12]}"


class Stopper:
    """SIGTERM/SIGINT under ``--api``: said at once, the run stopped, SIMBA ended in time."""

    def __init__(self, grace: float) -> None:
        self.grace = grace
        self.signum: int | None = None
        self.station: StationObserver | None = None
        self.run_dir: Path | None = None
        self.requested = threading.Event()
        self._done = threading.Event()
        self._read, self._write = os.pipe()
        os.set_blocking(self._write, False)
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._handle)
        threading.Thread(target=self._watch, name="simba-stopper", daemon=True).start()

    def _handle(self, signum: int, frame: object) -> None:
        if self.signum is None:  # only what is safe in a signal handler: the thread does the rest
            self.signum = signum
            with contextlib.suppress(OSError):
                os.write(self._write, b"x")

    def _watch(self) -> None:
        os.read(self._read, 1)
        assert self.signum is not None
        self.requested.set()
        name = signal.Signals(self.signum).name
        if self.station is not None:
            self.station.info(
                f"stopping ({name}): stopping the run's modules; ending within {self.grace:g} s"
            )
        if self._done.wait(max(0.0, self.grace - KILL_MARGIN)):
            return
        if self.run_dir is not None:
            from simba.leftovers import kill_leftovers

            kill_leftovers(self.run_dir)
        if not self._done.wait(max(0.0, KILL_MARGIN - 0.2)):
            self.end()

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` s for a signal; whether one came."""
        return self.requested.wait(timeout)

    def end(self) -> NoReturn:
        """End SIMBA by the signal it got (from any thread): what hosts count as a stop."""
        self._done.set()
        signum = self.signum or signal.SIGTERM
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        import ctypes

        ctypes.CDLL(None).signal(signum, 0)  # SIG_DFL, also from a thread that is not main
        os.kill(os.getpid(), signum)
        time.sleep(5)
        os._exit(128 + signum)  # pragma: no cover - the signal ends the process first


def run_hosted(request: HostedRequest) -> NoReturn:
    """Run as a Station / Checker module (see the module); never returns."""
    stopper = Stopper(request.grace)
    station = _serve(request.address)
    stopper.station = station
    out = guarded(sys.stdout)
    try:
        _count_under(station, module_root(os.environ))
        _run(request, station, stopper)
    except Exception as exc:  # a SimbaError, or a usage error: said as a failure
        from simba.errors import RunInterrupted, SimbaError

        if not isinstance(exc, (SimbaError, *_usage_errors())):
            raise
        if not (isinstance(exc, RunInterrupted) and stopper.requested.is_set()):
            station.fail(exc)
            Terminal(out=sys.stderr).error(_message(exc))
    while not stopper.requested.is_set():
        if getattr(out, "broken", False):  # the host has gone: nobody to serve
            sys.exit(0 if station.board.snapshot()[0]["state"] == "finished" else 1)
        if stopper.wait(REMIND_INTERVAL):
            break
        station.remind()
    stopper.end()


def run_hosted_command(
    address: tuple[str, int], scenario_after_api: Path | None, params: Mapping[str, Any]
) -> NoReturn:
    """``simba run --api``: its parameters (click's, by name) -> :func:`run_hosted`."""
    grace = params.get("stop_grace")
    run_hosted(
        HostedRequest(
            address=address,
            scenario=params.get("scenario"),
            scenario_after_api=scenario_after_api,
            resume=params.get("resume"),
            output_directory=params.get("output_directory"),
            run_id=params.get("run_id"),
            cell_id=params.get("cell_id"),
            overwrite=bool(params.get("overwrite")),
            timeout=params.get("timeout"),
            jobs=params.get("jobs"),
            verbose=bool(params.get("verbose")),
            grace=STOP_GRACE if grace is None else grace,
        )
    )


def hosted_usage_error(address: str | None, message: str) -> NoReturn:
    """A usage error of ``simba run --api`` found while parsing: said as a failed module."""
    from simba.observers.status_server import DEFAULT_ADDRESS, looks_like_address, parse_address

    text = address if address and looks_like_address(address) else DEFAULT_ADDRESS
    try:
        parsed = parse_address(text)
    except ValueError:
        parsed = parse_address(DEFAULT_ADDRESS)
    stopper = Stopper(STOP_GRACE)
    station = _serve(parsed)
    stopper.station = station
    with contextlib.suppress(Exception):  # a damaged count: said when the command is fixed
        _count_under(station, module_root(os.environ))
    station.fail(f"usage: {message}; fix the module's command line (see 'simba run --help')")
    Terminal(out=sys.stderr).error(message)
    while not stopper.wait(REMIND_INTERVAL):
        station.remind()
    stopper.end()


def _usage_errors() -> tuple[type[Exception], ...]:
    import click

    return (click.UsageError,)


def _message(exc: Exception) -> str:
    import click

    return exc.format_message() if isinstance(exc, click.ClickException) else str(exc)


def _serve(address: tuple[str, int]) -> StationObserver:
    """Bind, print ``API: <url>`` as the first stdout line, serve; the station observer."""
    from simba.observers.status_server import listen, url_of

    try:
        sock = listen(*address)
    except OSError as exc:
        host, port = address
        message = f"--api: cannot listen on {host}:{port}: {exc.strerror or exc}"
        Terminal().line(f"ERROR: {message}")
        Terminal(out=sys.stderr).error(message)
        sys.exit(1)  # without an API there is nothing to serve; the host restarts SIMBA
    Terminal().line(f"API: {url_of(sock)}")
    set_note_format(sys.stdout, "INFO: {}".format)  # the host reads INFO:/ERROR: lines
    from simba.observers.station import StationObserver
    from simba.observers.status_server import ApiServer, StatusBoard

    board = StatusBoard()
    ApiServer(sock, board).start()
    return StationObserver(guarded(sys.stdout), board)


def _run(request: HostedRequest, station: StationObserver, stopper: Stopper) -> None:
    """Load the scenario, find the run's directory; serve it if it ended, else run it."""
    import click

    from simba.engine import Engine
    from simba.observers.plain import PlainObserver

    if request.scenario_after_api is not None:
        if request.scenario is not None:
            raise click.UsageError(
                f"got two scenarios ({request.scenario_after_api} and {request.scenario}); "
                "to give --api an address, write it as HOST:PORT"
            )
        request = dataclasses.replace(
            request, scenario=request.scenario_after_api, scenario_after_api=None
        )
    if request.scenario is None and request.resume is None:
        raise click.UsageError("give a SCENARIO to run, or --resume RUN_DIR")
    if request.overwrite:
        raise click.UsageError(
            "--overwrite does not go with --api: a host restarts its module with the same "
            "command, which must continue the run, not start it again"
        )
    if request.resume is not None and (
        request.run_id or request.cell_id or request.output_directory
    ):
        raise click.UsageError(
            "--resume takes the run directory as it is; leave out "
            "--run-id, --cell-id and --output-directory"
        )
    from simba.names import NAME_RULE, is_name

    for option, value in (("--run-id", request.run_id), ("--cell-id", request.cell_id)):
        if value is not None and not is_name(value):
            raise click.BadParameter(f"{value!r}: {NAME_RULE}", param_hint=option)
    root = module_root(os.environ)
    scenario, options = hosted_options(request, root)
    run_dir = _run_dir(scenario, options)
    if station.lifetime is None:
        _count_under(station, run_dir.parent)
    station.run_key = str(run_dir)
    ended = _ended(run_dir)
    if ended is not None:
        station.serve_finished(run_dir.name, ended)
        return
    if options.resume is None and (run_dir / ".simba").is_dir():
        from simba.engine import resume_options

        _, resumed = resume_options(run_dir, timeout=request.timeout, jobs=request.jobs)
        options = dataclasses.replace(
            resumed, cache_directory=options.cache_directory, resume=run_dir
        )
    if stopper.requested.is_set():
        return
    plain = PlainObserver(guarded(sys.stderr, "stderr"), verbose=request.verbose)
    engine = Engine(scenario, options, [station, plain])
    os.environ["SIMBA_RUN_DIR"] = str(engine.rundir.root)  # as simba run does
    stopper.run_dir = engine.rundir.root
    from simba.leftovers import Guard

    guard = Guard(engine.rundir.root)
    heartbeat = threading.Thread(target=_beat, args=(station,), daemon=True)
    heartbeat.start()
    try:
        engine.run()
    finally:
        guard.close()


def _count_under(station: StationObserver, root: Path | None) -> None:
    """Keep the module's lifetime jobsCompleted in ``root`` (nothing if ``None``)."""
    if root is not None:
        from simba.observers.lifetime import FILE_NAME, LifetimeJobs

        station.lifetime = LifetimeJobs(root / FILE_NAME)


def _beat(station: StationObserver) -> None:
    while not station.finished:
        time.sleep(HEARTBEAT_TICK)
        station.heartbeat()


def hosted_options(request: HostedRequest, root: Path | None) -> tuple[Scenario, RunOptions]:
    """The scenario (a relative ``outputDirectory`` taken under ``root``) and the options:
    the output base under the root, a stable run id, ``CACHE_ROOT`` for the caches."""
    from simba.engine import RunOptions, resume_options
    from simba.scenario import load_scenario

    cache_root = os.environ.get("CACHE_ROOT")
    cache = Path(cache_root).resolve() if cache_root else None
    if request.resume is not None:
        source, options = resume_options(request.resume, timeout=request.timeout, jobs=request.jobs)
        scenario = load_scenario(request.scenario or source, cwd=root)
        return scenario, dataclasses.replace(options, cache_directory=cache)
    assert request.scenario is not None
    scenario = load_scenario(request.scenario, cwd=root)
    output = request.output_directory
    if output is not None and root is not None and not output.is_absolute():
        output = root / output
    if output is None and root is not None and not scenario.driver.output_directory_given:
        output = root
    return scenario, RunOptions(
        output_directory=output.resolve() if output is not None else None,
        run_id=request.run_id or scenario.driver.run_id or derived_run_id(scenario),
        cell_id=request.cell_id,
        timeout=request.timeout,
        jobs=request.jobs,
        cache_directory=cache,
    )


def _run_dir(scenario: Scenario, options: RunOptions) -> Path:
    if options.resume is not None:
        return options.resume
    from simba.engine.rundir import RunDirectory

    base = options.output_directory or scenario.driver.output_directory
    assert options.run_id is not None
    return RunDirectory.locate(base, options.run_id, options.cell_id or scenario.driver.cell_id)


def _ended(run_dir: Path) -> dict[str, object] | None:
    """The summary of a run that ended (successfully or not, but not by a signal)."""
    from simba.jsonfile import JSONFileError, read_json

    try:
        document = read_json(run_dir / ".simba" / "summary.json")
    except (OSError, JSONFileError):
        return None
    if isinstance(document, dict) and document.get("outcome") in ("success", "failed"):
        return document
    return None
