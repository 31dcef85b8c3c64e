"""Station / Checker module output (DESIGN §9): ``INFO:`` / ``ERROR:`` lines and the status board.

With ``simba run --api`` the host reads SIMBA's stdout: after the ``API:`` line it
gets only ``INFO: …`` lines (progress, at most one a second, and the modules' own
INFO lines) and ``ERROR: …`` lines (failed calls, the modules' ERROR lines, a failed
run), one line each.  The same observer keeps the
:class:`~simba.observers.status_server.StatusBoard`
that ``GET /`` serves: ``jobsCompleted`` starts from the successful calls the run
carries over (:attr:`RunStarted.calls_done <simba.events.RunStarted.calls_done>`) and
grows with every successful call.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

from simba.events import (
    CallFinished,
    Event,
    ModuleLine,
    RunFinished,
    RunStarted,
    ServiceStarted,
    TickStarted,
)
from simba.observers.status_server import StatusBoard

#: Seconds between two progress lines.
PROGRESS_INTERVAL = 1.0
_STATES = {"success": "finished", "failed": "failed", "interrupted": "interrupted"}


class StationObserver:
    """``INFO:``/``ERROR:`` lines on ``stream``; the run's facts on ``board`` for ``GET /``."""

    def __init__(
        self,
        stream: TextIO,
        board: StatusBoard | None = None,
        *,
        interval: float = PROGRESS_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream
        self.board = board or StatusBoard()
        self.interval = interval
        self.clock = clock
        self.jobs_completed = 0
        self.final_tick = 0
        self.finished = False
        """Whether the end of the run was reported (a later error needs no line of its own)."""
        self._reported_at: float | None = None

    def info(self, text: str) -> None:
        self._write("INFO", text)

    def error(self, text: str) -> None:
        self._write("ERROR", text)

    def _write(self, level: str, text: str) -> None:
        self.stream.write(f"{level}: {' '.join(text.split())}\n")
        self.stream.flush()

    def fail(self, message: str) -> None:
        """Report an error that ended SIMBA before or outside the run (e.g. a bad scenario)."""
        if not self.finished:
            self.finished = True
            self.board.update(state="failed")
            self.error(message.partition("\n")[0])

    def __call__(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            self.jobs_completed = event.calls_done
            self.final_tick = event.final_tick
            self.board.update(
                state="running",
                jobsCompleted=event.calls_done,
                tick=event.initial_tick,
                finalTick=event.final_tick,
                simulatedTime=event.initial_time.isoformat(),
            )
            carried = f", {event.calls_done} done before" if event.calls_done else ""
            self.info(
                f"run {event.run_id} started: ticks {event.initial_tick}..{event.final_tick}, "
                f"{event.call_count} calls{carried}"
            )
        elif isinstance(event, TickStarted):
            self.board.update(tick=event.tick, simulatedTime=event.time.isoformat())
            now = self.clock()
            if self._reported_at is None or now - self._reported_at >= self.interval:
                self._reported_at = now
                self.info(
                    f"tick {event.tick}/{self.final_tick} ({event.time.isoformat()}): "
                    f"{self.jobs_completed} jobs completed"
                )
        elif isinstance(event, CallFinished):
            if event.outcome == "success":
                self.jobs_completed += 1
                self.board.update(jobsCompleted=self.jobs_completed)
            else:
                self.error(
                    f"module {event.module} {event.mode} at tick {event.tick} failed "
                    f"(attempt {event.attempt}): {event.reason}"
                )
        elif isinstance(event, ModuleLine):
            self._write(event.level, f"[{event.module}] {event.text}")
        elif isinstance(event, ServiceStarted):
            self.info(f"service {event.module} ready at {event.api}")
        elif isinstance(event, RunFinished):
            self.finished = True
            self.board.update(state=_STATES.get(event.outcome, event.outcome))
            if event.outcome == "success":
                self.info(
                    f"run finished: {self.jobs_completed} jobs completed in {event.wall_time:.2f} s"
                )
            elif event.outcome == "interrupted":
                self.info(
                    f"run {(event.error or 'interrupted').partition(chr(10))[0]} "
                    f"({self.jobs_completed} jobs completed)"
                )
            else:
                self.error(f"run failed: {(event.error or '').partition(chr(10))[0]}")
