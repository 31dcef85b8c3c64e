"""Plain progress lines, for logs, CI and pipes (not a terminal): no escape codes.

The words are those of the rich display (:mod:`simba.observers.lines`); the outcome
line at the end is the CLI's (it has the run's summary).
"""

from __future__ import annotations

from typing import TextIO

from simba.events import (
    CallFinished,
    Event,
    ModuleLine,
    RunFinished,
    RunStarted,
    RunWarning,
    ServiceStarted,
    ServiceStats,
    TickStarted,
)
from simba.observers.lines import (
    SimulatedTimes,
    WarningTally,
    failed_attempt,
    module_line,
    started,
    warning,
)
from simba.wording import counted


class PlainObserver:
    """One line per batch, per module INFO/ERROR line, per new warning and per failure.

    ``quiet``: only the modules' ERROR lines and failed attempts.
    """

    def __init__(self, stream: TextIO, *, verbose: bool = False, quiet: bool = False) -> None:
        self.stream = stream
        self.verbose = verbose and not quiet
        self.quiet = quiet
        self.times = SimulatedTimes()
        self.warnings = WarningTally()
        self.done = 0
        self.planned = 0

    def write(self, line: str) -> None:
        self.stream.write(line + "\n")
        self.stream.flush()

    def __call__(self, event: Event) -> None:
        if isinstance(event, TickStarted):
            self.times.see(event)
        if isinstance(event, CallFinished):
            if event.outcome != "success":
                self.write(f"  {failed_attempt(event)}")
                return
            self.done += 1
            if self.verbose:
                call = f"{event.module} {event.mode} at tick {event.tick}"
                self.write(f"  {call}: ok in {event.wall_time:.3f} s")
        elif isinstance(event, ModuleLine):
            if event.level == "ERROR" or not self.quiet:
                self.write(f"  {module_line(event, self.times)}")
        elif not self.quiet:
            self._progress(event)

    def _progress(self, event: Event) -> None:
        """What ``quiet`` leaves out: the run's start, its batches, services, warnings."""
        if isinstance(event, RunStarted):
            self.done, self.planned = event.calls_done, event.call_count
            for line in started(event):
                self.write(line)
        elif isinstance(event, TickStarted):
            what = "step" if event.mode == "step" else event.mode
            self.write(
                f"tick {event.tick} {event.time.isoformat()} {what}: "
                f"{counted(event.call_count, 'call')} ({self.done}/{self.planned} done)"
            )
        elif isinstance(event, ServiceStarted):
            self.write(f"service {event.module} ready at {event.api} (pid {event.pid})")
        elif isinstance(event, ServiceStats):
            if self.verbose:
                self.write(f"  [{event.module}] jobsCompleted {event.jobs_completed}")
        elif isinstance(event, RunWarning):
            if self.warnings.is_new(event):
                self.write(warning(event))
        elif isinstance(event, RunFinished):
            for line in self.warnings.recap():
                self.write(line)
