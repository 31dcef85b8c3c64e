"""One hosted service: its process, its output, its stats poller, how it ended.

A :class:`Service` starts the program (environment and directories of its own), waits
for its ``API: <url>`` line, streams its output into its
:class:`~simba.engine.service_log.ServiceLog` through the same supervision loop as a
module call (:meth:`simba.process.ModuleProcess.supervise`), turns ``INFO:`` /
``ERROR:`` lines into :class:`~simba.events.ModuleLine` events, polls its stats, and
is stopped by its :class:`~simba.engine.services.ServiceHost`.  A service that exits
before it is stopped becomes a :class:`~simba.errors.ServiceError` for the host.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

from simba.engine.service_api import jobs_completed, reason, url_problem
from simba.engine.service_key import KEY_FILE_VARIABLE, authorization, key_file
from simba.engine.service_log import ServiceLog
from simba.engine.summary import ServiceSummary, cannot_write
from simba.errors import ServiceError, format_tail
from simba.events import Event, ModuleLine, RunWarning, ServiceStats
from simba.leftovers import group_alive
from simba.output import LineSplitter, module_line
from simba.process import ModuleProcess, signal_name
from simba.scenario import ModuleSpec
from simba.scenario.model import READY_TIMEOUT

#: After a service exited, how long to wait for pipes that something else holds open.
#: Shorter than a call's (:data:`simba.process.DRAIN_PERIOD`): a service that ends on
#: its own fails the run, which should learn of it within a second.
DRAIN_PERIOD = 0.5
#: The most of a stats answer that is read.
MAX_STATS_BYTES = 1024 * 1024
#: How long a service without ``readyTimeout`` may take to print its API line at all
#: (later than :data:`~simba.scenario.model.READY_TIMEOUT` is a warning: the real hosts
#: accept a late line, Core 17 waits for ever).
READY_LIMIT = 60.0
#: Seconds between two stats polls while a service is being stopped.
STOP_POLL_INTERVAL = 0.1
_API = "API:"


class ServiceOwner(Protocol):
    """What a service needs of its host: the run's tick, and where events and failures go."""

    @property
    def tick(self) -> int: ...

    def emit(self, event: Event, /) -> None: ...

    def on_failure(self, error: ServiceError, /) -> None: ...


class Service:
    """One service process, its log, its watcher thread and its stats poller."""

    def __init__(
        self,
        spec: ModuleSpec,
        host: ServiceOwner,
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
        self.log = ServiceLog(directory / "module.log")
        self.process: ModuleProcess | None = None
        self.api: str | None = None
        self.jobs_completed: int | None = None
        self.returncode: int | None = None
        self.failure: ServiceError | None = None
        self._problem: str | None = None  # why the API line is unusable
        self._lock = threading.Lock()
        self._stopping = False
        self.started = 0.0
        self.ready_after: float | None = None
        """Seconds from its start to its API line."""
        self._early: bool | None = None  # set once the exit is seen: did it end on its own?
        self._settled = threading.Event()  # ready, or ended, or a bad API line
        self._ended = threading.Event()
        self._stop_polling = threading.Event()
        self._watcher: threading.Thread | None = None
        self._poller: threading.Thread | None = None
        self._poll_failing = False
        self._log_broken = False
        self.key_file: Path | None = None  # the per-run secret (service_key)
        self._remove_container: Callable[[], None] | None = None
        self._poll_lock = threading.Lock()
        self._poll_now = threading.Event()  # wakes the poller (a stop began)
        self.stop_deadline: float | None = None
        """When its grace period ends (set by the host as it sends SIGTERM)."""
        self.killed = False
        """Whether its process group had to be SIGKILLed at the end of its grace period."""
        self._dropped_form_warned = False

    # -- starting ------------------------------------------------------------------------

    def start(self) -> None:
        spec = self.spec
        for path in (self.directory, self.state_dir, self.cache_dir):
            path.mkdir(parents=True, exist_ok=True, mode=0o700)
            path.chmod(0o700)  # mkdir's mode is subject to the umask; an old one may differ
        self.log.open()
        run_dir = Path(self.environment.get("SIMBA_RUN_DIR") or self.directory.parent.parent)
        self.key_file = key_file(run_dir, self.name)
        environment = {
            **self.environment,
            "STATE_ROOT": str(self.state_dir),
            "CACHE_ROOT": str(self.cache_dir),
            "ROOT_DIR": str(self.state_dir),
            KEY_FILE_VARIABLE: str(self.key_file),
            **spec.env,
        }
        argv = spec.argv
        if spec.container is not None:  # DESIGN §15: the engine's command line (containers)
            from simba.runners.container import service_command

            argv, environment, self._remove_container = service_command(spec, environment)
        self.started = time.monotonic()
        try:
            self.process = ModuleProcess(argv, cwd=spec.working_directory, env=environment)
        except OSError as exc:
            self.log.close()
            raise ServiceError(
                f"service {self.name!r} could not be started: {exc}", module=self.name
            ) from exc
        self._watcher = threading.Thread(
            target=self._watch, name=f"simba-service-{self.name}", daemon=True
        )
        self._watcher.start()
        limit = READY_LIMIT if spec.ready_timeout is None else spec.ready_timeout
        self._settled.wait(max(0.0, limit - (time.monotonic() - self.started)))
        if self.api is not None:
            self._warn_if_late()
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
        given = "its readyTimeout" if spec.ready_timeout is not None else "SIMBA's limit"
        raise self._error(
            f"service {self.name!r} did not become ready: its 'API: <url>' line never came "
            f"within {given} of {limit:g} s"
        )

    def _warn_if_late(self) -> None:
        """A warning for an API line later than the interface asks (without readyTimeout)."""
        took = self.ready_after
        if self.spec.ready_timeout is None and took is not None and took > READY_TIMEOUT:
            self._warn(
                f"printed its 'API: <url>' line {took:.2f} s after it started; the Station "
                f"module interface asks for it within {READY_TIMEOUT * 1000:.0f} ms (the real "
                "hosts accept it later, so SIMBA does too; set readyTimeout to make a late "
                "line fail the run)"
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
        streams = (_Stream(self, "stdout"), _Stream(self, "stderr"))
        process.supervise(*streams, drain_period=DRAIN_PERIOD, on_exit=self._exit_seen)
        for stream in streams:
            stream.close()
        self.flush_log()

    def flush_log(self) -> None:
        if not self._log_broken:
            try:
                self.log.flush()
            except OSError as exc:
                self._log_failed(exc)

    def _log_failed(self, exc: OSError) -> None:
        """Its log cannot be written (a full disk): stop the run cleanly, keep the service's
        pipes drained (its output is dropped from now on) so that it never blocks."""
        if self._log_broken:
            return
        self._log_broken = True
        root = Path(self.environment.get("SIMBA_RUN_DIR") or self.directory)
        message = str(cannot_write(root, exc, f" (the log of service {self.name!r})"))
        failure = ServiceError(message, module=self.name, log_path=self.log.path)
        failure.__cause__ = exc
        self.host.on_failure(failure)

    def _exit_seen(self) -> None:
        """The leader has exited: while being stopped, the rest of its group keeps the
        grace period (a worker behind ``sh -c`` finishes its clean shutdown)."""
        with self._lock:
            if self._early is None:
                self._early = not self._stopping
            stopping = self._stopping
        process = self.process
        if not stopping or process is None:
            return
        while group_alive(process.pid):
            deadline = self.stop_deadline
            if deadline is not None and time.monotonic() >= deadline:
                self.killed = True  # supervise SIGKILLs the group as this returns
                return
            time.sleep(0.02)

    def line(self, stream: str, line: bytes) -> None:
        """One line of its output: to the log, and an event or its API URL if it is one."""
        text = line.rstrip(b"\r").decode("utf-8", "replace")
        if not self._log_broken:
            try:
                self.log.write(stream, text)
            except OSError as exc:
                self._log_failed(exc)
        picked = module_line(line)
        if picked is not None and not self._dropped_form_warned:
            self._warn_dropped_form(stream, line)
        if picked is not None:
            level, rest = picked
            self.host.emit(
                ModuleLine(module=self.name, tick=self.host.tick, level=level, text=rest)
            )
        elif (
            stream == "stdout"
            and self.api is None
            and self._problem is None
            and text.startswith(_API)
        ):
            url = text[len(_API) :].strip()
            problem = url_problem(url)
            if problem is None:
                self.api = url
                self.ready_after = time.monotonic() - self.started
            else:
                self._problem = f"printed the API line {text!r}, but {problem}"
            self._settled.set()

    def _warn_dropped_form(self, stream: str, line: bytes) -> None:
        """Once per service: an INFO:/ERROR: line that real Station would not show."""
        if stream == "stdout" and (line.startswith((b"INFO: ", b"ERROR: "))):
            return
        self._dropped_form_warned = True
        why = "on stderr" if stream == "stderr" else "without a space after the colon"
        self._warn(
            f"printed {line[:40].decode('utf-8', 'replace')!r} {why}; real Station shows only "
            "stdout lines that start 'INFO: ' or 'ERROR: ' (with the space), so its users "
            "would not see it (SIMBA shows it; this warning is given once per service)"
        )

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
        """Poll the API every statsInterval; while it is stopped, every
        :data:`STOP_POLL_INTERVAL` s until it has ended (jobs done while stopping count)."""
        import urllib.request

        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never a proxy
        interval = self.spec.stats_interval
        while True:
            if self._stopping:  # request_stop set it before it woke this loop
                self._stop_polling.wait(STOP_POLL_INTERVAL)
            else:
                self._poll_now.wait(interval)
            if self._ended.is_set() or self._stop_polling.is_set():
                return
            self.poll(opener, timeout=min(max(interval, 0.5), 5.0))

    def poll(self, opener: Any = None, *, timeout: float = 1.0) -> None:
        """One stats poll (from the poller, or from the host just before SIGTERM)."""
        if self.api is None or self._ended.is_set():
            return
        if opener is None:
            import urllib.request

            opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with self._poll_lock:
            self._poll_once(opener, timeout=timeout)

    def _poll_once(self, opener: Any, *, timeout: float) -> None:
        import http.client
        import urllib.request

        try:
            headers = authorization(self.key_file) if self.key_file is not None else {}
            request = urllib.request.Request(self.api or "", headers=headers)
            with opener.open(request, timeout=timeout) as response:
                body = response.read(MAX_STATS_BYTES + 1)
            if len(body) > MAX_STATS_BYTES:
                raise ValueError(f"its answer is longer than {MAX_STATS_BYTES} bytes")
            jobs = jobs_completed(json.loads(body))
        except (OSError, ValueError, RecursionError, http.client.HTTPException) as exc:
            if not self._poll_failing and not self._ended.is_set() and not self._stopping:
                self._warn(
                    f"could not read its stats from {self.api}: {reason(exc)}; "
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
        self._poll_now.set()

    def end_polling(self) -> None:
        """End the poller (after the service has ended, or at the end of its grace)."""
        self._stop_polling.set()
        self._poll_now.set()
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
        if self._remove_container is not None:  # whatever the engine's client left running
            self._remove_container()
        try:
            self.log.close()
        except OSError as exc:
            self._log_failed(exc)

    def summary(self) -> ServiceSummary:
        code = self.returncode
        return ServiceSummary(
            api=self.api,
            jobs_completed=self.jobs_completed,
            exit_code=code if code is not None and code >= 0 else None,
            signal=signal_name(-code) if code is not None and code < 0 else None,
            ended_early=bool(self._early),
            log=str(self.log.path),
        )


class _Stream:
    """One pipe of a service, as :meth:`ModuleProcess.supervise` writes it: cut into lines."""

    __slots__ = ("_lines", "_service")

    def __init__(self, service: Service, stream: str) -> None:
        self._service = service
        self._lines = LineSplitter(lambda line: service.line(stream, line))

    def write(self, data: bytes) -> None:
        self._lines.feed(data)
        self._service.flush_log()

    def close(self) -> None:
        self._lines.finish()
