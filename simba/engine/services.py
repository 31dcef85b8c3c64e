"""Hosting ``service`` modules (DESIGN §6): the Station / Checker module interface.

A service is a long-running program with an HTTP API.  SIMBA starts every service of
the scenario before the first ``start`` call, in priority order (higher first, each
ready before the next starts), and stops them after the last ``end`` call: SIGTERM to
the service's process group, SIGKILL after a grace period.

Why a host and not a :class:`~simba.runners.base.Runner`: a runner turns one call into
one result, and the engine routes every call to the runner of its module's type.  A
service gets no calls.  What it needs is a lifetime around the whole run, a watcher
that reads its output while calls run, a stats poller, and a way to fail the run from
that watcher.  So the engine owns one :class:`ServiceHost` next to its runner, and
services are not in :attr:`Scenario.modules <simba.scenario.loader.Scenario.modules>` at all.

Per service:

- environment: SIMBA's own, ``SIMBA_RUN_DIR``, ``STATE_ROOT`` and ``CACHE_ROOT``
  (directories of its own, mode 0700: ``modules/<name>/state`` and ``…/cache`` in the
  run), ``ROOT_DIR`` = ``STATE_ROOT``, then the module's ``env``;
- readiness: the first stdout line that starts with ``API:`` gives its URL, and it must
  come within ``readyTimeout``.  Output is cut into lines as it arrives, so a line the
  service writes in pieces is read whole;
- ``modules/<name>/module.log``: stdout and stderr, each line with a UTC timestamp and
  its stream, rotated at :data:`LOG_MAX_BYTES` keeping one old file (``module.log.1``);
- ``INFO:`` / ``ERROR:`` lines (either stream) become :class:`~simba.events.ModuleLine`
  events;
- every ``statsInterval`` its URL is polled for JSON with ``jobsCompleted``
  (:class:`~simba.events.ServiceStats` when it changes); a failed poll is a warning
  (once per spell of failures), a decrease is a warning; one last poll before it is
  stopped, so the summary has its final count;
- a service that exits before SIMBA stops it fails the run: the watcher hands
  ``on_failure`` a :class:`ServiceError` quoting its exit status and its last
  :data:`TAIL_LINES` log lines the moment the exit is seen.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import select
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

from simba.engine.rundir import RunDirectory
from simba.errors import ServiceError, format_tail
from simba.events import Event, ModuleLine, RunWarning, ServiceStarted, ServiceStats, TickStarted
from simba.process import GRACE_PERIOD, ModuleProcess, has_exited, signal_name
from simba.scenario.loader import ModuleSpec

#: Seconds between the SIGTERM that stops a service and the SIGKILL.
STOP_GRACE_PERIOD = GRACE_PERIOD
#: ``module.log`` is rotated when it would grow past this many bytes (one old file is kept).
LOG_MAX_BYTES = 10 * 1024 * 1024
#: How many log lines a failure message quotes.
TAIL_LINES = 100
#: After a service exited, how long to wait for pipes that something else holds open.
DRAIN_PERIOD = 0.5
#: The most of a stats answer that is read.
MAX_STATS_BYTES = 1024 * 1024
#: A longer line is logged in pieces of this size.
_MAX_LINE = 65536
_CHUNK = 65536
_API = "API:"


class ServiceHost:
    """The services of one run: started together, watched, polled, stopped together.

    ``emit`` receives the events of every service (from their watcher threads);
    ``on_failure`` is called once per service that ends on its own after it was ready.
    The host is also an observer: it follows :class:`~simba.events.TickStarted` to
    give service lines a tick.
    """

    def __init__(
        self,
        services: Sequence[ModuleSpec],
        rundir: RunDirectory,
        *,
        environment: Mapping[str, str],
        emit: Callable[[Event], None],
        on_failure: Callable[[ServiceError], None],
        cache_directory: Path | None = None,
        grace_period: float | None = None,
    ) -> None:
        self.emit = emit
        self.on_failure = on_failure
        self.grace_period = grace_period
        self.tick = rundir.timeline.initial_tick
        cache_base = None
        if cache_directory is not None:
            # One cache per run directory, stable across --resume.
            digest = hashlib.sha256(str(rundir.root).encode()).hexdigest()[:10]
            cache_base = cache_directory / f"{rundir.root.name}-{digest}"
        self.services = [
            _Service(
                spec,
                self,
                directory=rundir.service_dir(spec.name),
                cache=(cache_base / spec.name) if cache_base is not None else None,
                environment=environment,
            )
            for spec in sorted(services, key=lambda spec: -spec.priority)
        ]
        self._stopped = False
        self._ready: tuple[tuple[str, str], ...] = ()
        self._documents: dict[str, Mapping[str, str]] = {}

    def __call__(self, event: Event) -> None:
        if isinstance(event, TickStarted):
            self.tick = event.tick

    def start(self) -> None:
        """Start every service in priority order; raise :class:`ServiceError` if one fails."""
        for service in self.services:
            service.start()
            assert service.api is not None and service.process is not None
            self.emit(ServiceStarted(module=service.name, api=service.api, pid=service.process.pid))

    @property
    def documents(self) -> Mapping[str, Mapping[str, str]]:
        """``services`` of a config document: ``{name: {"api": url}}`` of the ready services.

        The same object while no service starts or stops, so that a config written ahead
        can be seen to be still right.
        """
        ready = tuple((s.name, s.api) for s in self.services if s.api is not None)
        if ready != self._ready:
            self._ready = ready
            self._documents = {name: {"api": api} for name, api in ready}
        return self._documents

    def stop(self) -> None:
        """Stop every service (once); raise the :class:`ServiceError` of one that ended early.

        All at once: a last stats poll each, then SIGTERM to every one, then SIGKILL to
        those still running after the grace period.
        """
        if self._stopped:
            return
        self._stopped = True
        grace = STOP_GRACE_PERIOD if self.grace_period is None else self.grace_period
        for service in self.services:
            service.request_stop()
        for service in self.services:
            service.end_polling()
        for service in self.services:
            service.signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for service in self.services:
            if not service.wait_ended(max(0.0, deadline - time.monotonic())):
                service.signal(signal.SIGKILL)
        for service in self.services:
            service.close(grace)
        for service in self.services:
            if service.failure is not None:
                raise service.failure

    def close(self) -> None:
        """Stop every service that still runs, without raising (failure and signal paths)."""
        with contextlib.suppress(ServiceError):
            self.stop()

    def summary(self) -> dict[str, Any]:
        """Per service: API, last ``jobsCompleted``, how it ended, where its log is."""
        return {service.name: service.summary() for service in self.services}


class _Service:
    """One service process, its log, its watcher thread and its stats poller."""

    def __init__(
        self,
        spec: ModuleSpec,
        host: ServiceHost,
        *,
        directory: Path,
        cache: Path | None,
        environment: Mapping[str, str],
    ) -> None:
        self.spec = spec
        self.name = spec.name
        self.host = host
        self.directory = directory
        self.state_dir = directory / "state"
        self.cache_dir = cache if cache is not None else directory / "cache"
        self.environment = environment
        self.log = _ServiceLog(directory / "module.log")
        self.process: ModuleProcess | None = None
        self.api: str | None = None
        self.jobs_completed: int | None = None
        self.returncode: int | None = None
        self.failure: ServiceError | None = None
        self._problem: str | None = None  # why the API line is unusable
        self._lock = threading.Lock()
        self._stopping = False
        self._early: bool | None = None  # set once the exit is seen: did it end on its own?
        self._settled = threading.Event()  # ready, or ended, or a bad API line
        self._ended = threading.Event()
        self._stop_polling = threading.Event()
        self._watcher: threading.Thread | None = None
        self._poller: threading.Thread | None = None
        self._poll_failing = False

    # -- starting ------------------------------------------------------------------------

    def start(self) -> None:
        spec = self.spec
        for path in (self.directory, self.state_dir, self.cache_dir):
            path.mkdir(parents=True, exist_ok=True, mode=0o700)
            path.chmod(0o700)  # mkdir's mode is subject to the umask; an old one may differ
        self.log.open()
        environment = {
            **self.environment,
            "STATE_ROOT": str(self.state_dir),
            "CACHE_ROOT": str(self.cache_dir),
            "ROOT_DIR": str(self.state_dir),
            **spec.env,
        }
        started = time.monotonic()
        try:
            self.process = ModuleProcess(spec.argv, cwd=spec.working_directory, env=environment)
        except OSError as exc:
            self.log.close()
            raise ServiceError(
                f"service {self.name!r} could not be started: {exc}", module=self.name
            ) from exc
        self._watcher = threading.Thread(
            target=self._watch, name=f"simba-service-{self.name}", daemon=True
        )
        self._watcher.start()
        self._settled.wait(max(0.0, spec.ready_timeout - (time.monotonic() - started)))
        if self.api is not None:
            self._poller = threading.Thread(
                target=self._poll, name=f"simba-stats-{self.name}", daemon=True
            )
            self._poller.start()
            return
        if self._problem is not None:
            raise self._error(f"service {self.name!r} {self._problem}")
        if self._ended.is_set():
            raise self._error(
                f"service {self.name!r} {self._how_it_ended()} before printing its "
                "'API: <url>' line"
            )
        raise self._error(
            f"service {self.name!r} did not become ready: its 'API: <url>' line never came "
            f"within its readyTimeout of {spec.ready_timeout:g} s"
        )

    # -- watching ------------------------------------------------------------------------

    def _watch(self) -> None:
        """Read both pipes line by line until the process has ended; report an early end."""
        process = self.process
        assert process is not None
        try:
            self._pump(process)
        finally:  # whatever happened, the process is ended and reaped, and nobody waits
            if self._early is None:
                with self._lock:
                    self._early = not self._stopping
                process.signal_group(signal.SIGKILL)
            self.returncode = process.reap()
            if self._early:
                self.failure = self._error(
                    f"service {self.name!r} {self._how_it_ended()} while the run was going "
                    f"on (tick {self.host.tick}); a service must run until SIMBA stops it"
                )
            self._ended.set()
            self._settled.set()
        if self._early and self.api is not None:
            assert self.failure is not None
            self.host.on_failure(self.failure)

    def _pump(self, process: ModuleProcess) -> None:
        """Stream both pipes into lines until the process has exited and its pipes are done."""
        readers = {
            fd: _Lines(stream, self._line)
            for fd, stream in ((process.stdout_fd, "stdout"), (process.stderr_fd, "stderr"))
            if fd is not None
        }
        poller = select.poll()
        for fd in readers:
            poller.register(fd, select.POLLIN)
        exit_fd = process.exit_fd
        if exit_fd is not None:
            poller.register(exit_fd, select.POLLIN)
        exited = False
        drain_until: float | None = None
        while readers or not exited:
            wait: float | None = None
            if drain_until is not None:
                wait = max(0.0, drain_until - time.monotonic())
            if exit_fd is None and not exited:  # pragma: no cover - no pidfd: look every 10 ms
                wait = 0.01 if wait is None else min(wait, 0.01)
            for fd, _ in poller.poll(None if wait is None else int(wait * 1000) + 1):
                if fd == exit_fd:
                    poller.unregister(fd)
                    exited = True
                elif fd in readers:
                    data = os.read(fd, _CHUNK)
                    if data:
                        readers[fd].feed(data)
                        self.log.flush()
                    else:
                        poller.unregister(fd)
                        readers.pop(fd).finish()
            if not exited and exit_fd is None:  # pragma: no cover - no pidfd
                exited = has_exited(process.pid)
            if exited and drain_until is None:
                with self._lock:
                    if self._early is None:
                        self._early = not self._stopping
                process.signal_group(signal.SIGKILL)  # whatever it left in its group
                drain_until = time.monotonic() + DRAIN_PERIOD
            if drain_until is not None and time.monotonic() >= drain_until:
                break  # something outside its group holds the pipes
        for reader in readers.values():
            reader.finish()
        self.log.flush()

    def _line(self, stream: str, text: str) -> None:
        self.log.write(stream, text)
        if text.startswith(("INFO:", "ERROR:")):
            level, _, rest = text.partition(":")
            self.host.emit(
                ModuleLine(
                    module=self.name,
                    tick=self.host.tick,
                    level="ERROR" if level == "ERROR" else "INFO",
                    text=rest.strip(),
                )
            )
        elif (
            stream == "stdout"
            and self.api is None
            and self._problem is None
            and text.startswith(_API)
        ):
            url = text[len(_API) :].strip()
            problem = _url_problem(url)
            if problem is None:
                self.api = url
            else:
                self._problem = f"printed the API line {text!r}, but {problem}"
            self._settled.set()

    def _how_it_ended(self) -> str:
        code = self.returncode
        if code is None:
            return "ended"
        if code >= 0:
            return f"exited with code {code}"
        return f"was killed by signal {signal_name(-code)}"

    def _error(self, message: str) -> ServiceError:
        lines = list(self.log.tail)
        quoted = (
            f"; its log is empty ({self.log.path})"
            if not lines
            else f"; last {len(lines)} lines of its log:\n{format_tail(lines)}\n"
            f"(full log: {self.log.path})"
        )
        code = self.returncode
        return ServiceError(
            message + quoted,
            module=self.name,
            exit_code=code if code is not None and code >= 0 else None,
            signal_number=-code if code is not None and code < 0 else None,
            log_path=self.log.path,
        )

    # -- stats ---------------------------------------------------------------------------

    def _poll(self) -> None:
        """Poll the API every statsInterval, and once more when asked to stop."""
        import urllib.request

        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never a proxy
        interval = self.spec.stats_interval
        while True:
            stopping = self._stop_polling.wait(interval)
            if self._ended.is_set():
                return
            self._poll_once(opener, timeout=min(max(interval, 0.5), 5.0))
            if stopping:
                return

    def _poll_once(self, opener: Any, *, timeout: float) -> None:
        import http.client

        try:
            with opener.open(self.api, timeout=timeout) as response:
                body = response.read(MAX_STATS_BYTES + 1)
            if len(body) > MAX_STATS_BYTES:
                raise ValueError(f"its answer is longer than {MAX_STATS_BYTES} bytes")
            jobs = _jobs_completed(json.loads(body))
        except (OSError, ValueError, http.client.HTTPException) as exc:
            if not self._poll_failing and not self._ended.is_set():
                self._warn(
                    f"could not read its stats from {self.api}: {_reason(exc)}; "
                    "SIMBA keeps polling (this warning is not repeated until a poll succeeds)"
                )
            self._poll_failing = True
            return
        self._poll_failing = False
        previous = self.jobs_completed
        if previous is not None and jobs < previous:
            self._warn(
                f"jobsCompleted went down from {previous} to {jobs}; "
                "a service's jobsCompleted must never decrease"
            )
        if jobs != previous:
            self.jobs_completed = jobs
            self.host.emit(ServiceStats(module=self.name, jobs_completed=jobs))

    def _warn(self, message: str) -> None:
        self.host.emit(RunWarning(module=self.name, tick=self.host.tick, message=message))

    # -- stopping ------------------------------------------------------------------------

    def request_stop(self) -> None:
        """From now on an exit is expected; note whether it already ended on its own."""
        with self._lock:
            if self._stopping:
                return
            process = self.process
            if self._early is None and process is not None and process.wait_exit(0):
                self._early = True
            self._stopping = True

    def end_polling(self) -> None:
        """Poll the stats a last time (if it runs) and end the poller."""
        self._stop_polling.set()
        if self._poller is not None:
            self._poller.join()

    def signal(self, signum: int) -> None:
        """Send ``signum`` to its process group, unless it has ended."""
        if self.process is not None and not self._ended.is_set():
            self.process.signal_group(signum)

    def wait_ended(self, timeout: float) -> bool:
        return self.process is None or self._ended.wait(timeout)

    def close(self, timeout: float) -> None:
        """Wait for the watcher to reap the process (after SIGKILL), close the log."""
        if self._watcher is not None:
            self._ended.wait(timeout)
            self._watcher.join(timeout)
        self.log.close()

    def summary(self) -> dict[str, Any]:
        code = self.returncode
        return {
            "api": self.api,
            "jobsCompleted": self.jobs_completed,
            "exitCode": code if code is not None and code >= 0 else None,
            "signal": signal_name(-code) if code is not None and code < 0 else None,
            "endedEarly": bool(self._early),
            "log": str(self.log.path),
        }


class _Lines:
    """Cuts one stream into lines as bytes arrive; a line may come in any number of pieces."""

    __slots__ = ("_partial", "sink", "stream")

    def __init__(self, stream: str, sink: Callable[[str, str], None]) -> None:
        self.stream = stream
        self.sink = sink
        self._partial = b""

    def feed(self, data: bytes) -> None:
        *complete, self._partial = (self._partial + data).split(b"\n")
        for line in complete:
            self._emit(line)
        while len(self._partial) > _MAX_LINE:  # no newline in sight: log it in pieces
            self._emit(self._partial[:_MAX_LINE])
            self._partial = self._partial[_MAX_LINE:]

    def finish(self) -> None:
        if self._partial:
            self._emit(self._partial)
            self._partial = b""

    def _emit(self, line: bytes) -> None:
        self.sink(self.stream, line.rstrip(b"\r").decode("utf-8", "replace"))


class _ServiceLog:
    """``module.log``: one timestamped line per output line, rotated at :data:`LOG_MAX_BYTES`.

    A restarted service (``--resume``) appends to the log of the earlier run.  The last
    :data:`TAIL_LINES` lines are also kept in memory for failure messages.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tail: deque[str] = deque(maxlen=TAIL_LINES)
        self._handle: IO[bytes] | None = None
        self._size = 0
        self._lock = threading.Lock()

    def open(self) -> None:
        self._handle = self.path.open("ab")
        self._size = self._handle.tell()

    def write(self, stream: str, text: str) -> None:
        self.tail.append(text if stream == "stdout" else f"[{stream}] {text}")
        stamp = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
        record = f"{stamp} {stream} {text}\n".encode("utf-8", "replace")
        with self._lock:
            if self._handle is None:
                return
            if self._size and self._size + len(record) > LOG_MAX_BYTES:
                self._handle.close()
                self.path.replace(self.path.with_name(self.path.name + ".1"))
                self._handle = self.path.open("ab")
                self._size = 0
            self._handle.write(record)
            self._size += len(record)

    def flush(self) -> None:
        with self._lock:
            if self._handle is not None:
                self._handle.flush()

    def close(self) -> None:
        with self._lock:
            if self._handle is not None:
                self._handle.close()
                self._handle = None


def _url_problem(url: str) -> str | None:
    """Why ``url`` cannot be a service's API URL, or ``None``."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises for a bad port
    except ValueError as exc:
        return f"{url!r} is not a URL ({exc})"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"{url!r} is not an http:// or https:// URL"
    return None


def _jobs_completed(document: object) -> int:
    jobs = document.get("jobsCompleted") if isinstance(document, dict) else None
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 0:
        raise ValueError("its answer is not a JSON object with a whole number jobsCompleted")
    return jobs


def _reason(exc: BaseException) -> str:
    import urllib.error

    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP status {exc.code}"
    if isinstance(exc, urllib.error.URLError):
        return str(exc.reason)
    return str(exc) or type(exc).__name__
