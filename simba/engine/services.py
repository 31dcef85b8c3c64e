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
- readiness: the first stdout line that starts with ``API:`` gives its URL.  With
  ``readyTimeout`` set it must come within it; without, a line later than 500 ms (what
  the Station module interface asks) is a warning, as the real hosts accept it, and
  one that has not come after :data:`~simba.engine.service.READY_LIMIT` s fails the
  run.  Output is cut into lines as it arrives, so a line the
  service writes in pieces is read whole;
- ``modules/<name>/module.log``: stdout and stderr, each line with a UTC timestamp and
  its stream, rotated at :data:`~simba.engine.service_log.LOG_MAX_BYTES` keeping one
  old file (``module.log.1``);
- ``INFO:`` / ``ERROR:`` lines (either stream) become :class:`~simba.events.ModuleLine`
  events; one warning per service for such a line in a form real Station drops (on
  stderr, or without the space after the colon);
- every ``statsInterval`` its URL is polled for JSON with ``jobsCompleted``
  (:class:`~simba.events.ServiceStats` when it changes); a failed poll is a warning
  (once per spell of failures), a decrease is a warning; at the stop, one poll just
  before SIGTERM, then every 0.1 s until it has ended (or its grace is over), so jobs
  done while stopping are counted;
- stop: SIGTERM to its group; if the leader exits first (a wrapper such as ``sh -c``),
  the rest of the group keeps the grace period; SIGKILL at its end, with a warning;
- a service that exits before SIMBA stops it fails the run: the watcher hands
  ``on_failure`` a :class:`ServiceError` quoting its exit status and its last
  :data:`~simba.engine.service_log.TAIL_LINES` log lines the moment the exit is seen.

This module is the host; :mod:`simba.engine.service` is one service and
:mod:`simba.engine.service_log` its log.
"""

from __future__ import annotations

import contextlib
import hashlib
import signal
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from simba.engine.rundir import RunDirectory
from simba.engine.service import Service
from simba.engine.summary import ServiceSummary
from simba.errors import ServiceError
from simba.events import Event, RunWarning, ServiceStarted, TickStarted
from simba.process import GRACE_PERIOD
from simba.scenario import ModuleSpec

#: Seconds between the SIGTERM that stops a service and the SIGKILL.
STOP_GRACE_PERIOD = GRACE_PERIOD


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
            Service(
                spec,
                self,
                directory=rundir.service_dir(spec.name),
                cache=(cache_base / spec.name) if cache_base is not None else None,
                environment=environment,
            )
            for spec in sorted(services, key=lambda spec: -spec.priority)
        ]
        self._stopped = False
        self._ready: tuple[tuple[str, str, Path | None], ...] = ()
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
        """``services`` of a config document: ``{name: {"api": url, "keyFile": path}}`` of
        the ready services.

        The same object while no service starts or stops, so that a config written ahead
        can be seen to be still right.
        """
        ready = tuple((s.name, s.api, s.key_file) for s in self.services if s.api is not None)
        if ready != self._ready:
            self._ready = ready
            self._documents = {  # keyFile: the per-run secret its callers send (service_key)
                name: {"api": api, "keyFile": str(key)} if key else {"api": api}
                for name, api, key in ready
            }
        return self._documents

    def stop(self) -> None:
        """Stop every service (once); raise the :class:`ServiceError` of one that ended early.

        All at once: a last stats poll each while it surely runs, then SIGTERM to every
        one; while they stop their stats are polled every
        :data:`~simba.engine.service.STOP_POLL_INTERVAL` s (jobs done while stopping
        count); a group whose leader exits keeps the rest of the grace period; what still
        runs at its end is SIGKILLed, with a warning.
        """
        if self._stopped:
            return
        self._stopped = True
        grace = STOP_GRACE_PERIOD if self.grace_period is None else self.grace_period
        for service in self.services:
            service.poll()
        deadline = time.monotonic() + grace
        for service in self.services:
            service.stop_deadline = deadline
            service.request_stop()
        for service in self.services:
            service.signal(signal.SIGTERM)
        for service in self.services:
            if not service.wait_ended(max(0.0, deadline - time.monotonic())):
                service.killed = True
                service.signal(signal.SIGKILL)
        for service in self.services:
            service.end_polling()
            service.close(grace)
            if service.killed:
                self.emit(
                    RunWarning(
                        module=service.name,
                        tick=self.tick,
                        message=f"service {service.name!r} was still running {grace:g} s "
                        "after SIGTERM (its grace period) and was killed with SIGKILL; a "
                        "service must stop within the grace period",
                    )
                )
        for service in self.services:
            if service.failure is not None:
                raise service.failure

    def close(self) -> None:
        """Stop every service that still runs, without raising (failure and signal paths)."""
        with contextlib.suppress(ServiceError):
            self.stop()

    def summary(self) -> dict[str, ServiceSummary]:
        """Per service: API, last ``jobsCompleted``, how it ended, where its log is."""
        return {service.name: service.summary() for service in self.services}
