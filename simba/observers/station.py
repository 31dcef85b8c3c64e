"""Station / Checker module output (DESIGN §9): ``INFO:`` / ``ERROR:`` lines and the status board.

With ``simba run --api`` the host reads SIMBA's stdout: after the ``API:`` line it
gets only ``INFO: …`` lines (progress, at most one a second; the modules' own INFO
lines, rate-limited; a heartbeat while a call runs long) and ``ERROR: …`` lines
(failed calls, the modules' ERROR lines, a failed run), one line each, written whole
under a lock (service watchers and the heartbeat write from their own threads).

The Station user sees nothing else, so an ``ERROR:`` line carries its cause: the
failed call's last stderr lines joined with `` | `` (:func:`one_line`), one line per
problem of a bad scenario.

The same observer keeps the :class:`~simba.observers.status_server.StatusBoard` that
``GET /`` serves.  ``jobsCompleted`` is the run's successful calls (from
:attr:`RunStarted.calls_done <simba.events.RunStarted.calls_done>` on), or, given a
:class:`~simba.observers.lifetime.LifetimeJobs`, the module's lifetime count, persisted
before it is shown.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TextIO

from simba.errors import ScenarioError
from simba.events import (
    CallFinished,
    CallStarted,
    Event,
    ModuleLine,
    RunFinished,
    RunStarted,
    ServiceStarted,
    TickStarted,
)
from simba.observers.lifetime import LifetimeJobs
from simba.observers.status_server import StatusBoard

#: Seconds between two progress lines.
PROGRESS_INTERVAL = 1.0
#: Seconds a call runs before the heartbeat names it, and between two heartbeats.
HEARTBEAT_INTERVAL = 30.0
#: A module's INFO lines shown per :data:`RATE_WINDOW` seconds; the rest are counted.
RATE_LINES = 20
RATE_WINDOW = 60.0
#: The longest ``ERROR:`` line; a longer cause keeps its end (the last stderr lines).
MAX_LINE = 2000
_STATES = {"success": "finished", "failed": "failed", "interrupted": "interrupted"}


def one_line(message: str, limit: int = MAX_LINE) -> str:
    """A multi-line message as one line: its lines joined with `` | ``, the end kept."""
    parts = [" ".join(line.strip().lstrip("|").split()) for line in message.splitlines()]
    text = " | ".join(part for part in parts if part)
    if len(text) > limit:
        head = parts[0][: limit // 3]
        text = f"{head} … {text[-(limit - len(head) - 3) :]}"
    return text


class StationObserver:
    """``INFO:``/``ERROR:`` lines on ``stream``; the run's facts on ``board`` for ``GET /``."""

    def __init__(
        self,
        stream: TextIO,
        board: StatusBoard | None = None,
        *,
        interval: float = PROGRESS_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
        lifetime: LifetimeJobs | None = None,
    ) -> None:
        self.stream = stream
        self.board = board or StatusBoard()
        self.interval = interval
        self.clock = clock
        self.lifetime = lifetime
        self.run_key = ""
        """The run's key in :attr:`lifetime` (its directory)."""
        self.jobs_completed = 0
        """The run's own successful calls."""
        self.final_tick = 0
        self.finished = False
        """Whether the end of the run was reported (a later error needs no line of its own)."""
        self.final_lines: list[tuple[str, str]] = []
        """The lines that said how the run ended, for :meth:`remind`."""
        self._reported_at: float | None = None
        self._write_lock = threading.Lock()
        self._running: dict[tuple[str, str, int], float] = {}
        self._heard_at = clock()
        self._rates: dict[str, tuple[float, int]] = {}  # module -> (window start, lines)

    def info(self, text: str) -> None:
        self._write("INFO", text)

    def error(self, text: str) -> None:
        self._write("ERROR", text)

    def _write(self, level: str, text: str) -> None:
        with self._write_lock:
            self.stream.write(f"{level}: {' '.join(text.split())}\n")
            self.stream.flush()

    @property
    def shown_jobs(self) -> int:
        """What ``GET /`` says: the lifetime count, or the run's own."""
        if self.lifetime is None:
            return self.jobs_completed
        return self.lifetime.record(self.run_key, self.jobs_completed)

    def fail(self, error: BaseException | str) -> None:
        """Report an error that ended SIMBA before or outside the run (e.g. a bad scenario)."""
        if self.finished:
            return
        self.finished = True
        total = 0 if self.lifetime is None else self.lifetime.total
        self.board.update(state="failed", jobsCompleted=total)
        if isinstance(error, ScenarioError):
            count = len(error.problems)
            self._final("ERROR", f"the scenario has {count} problem{'s' * (count != 1)}:")
            for problem in error.problems:
                self._final("ERROR", f"{problem}")
            self._final("ERROR", "fix the scenario, then restart this module")
        else:
            self._final("ERROR", one_line(str(error)))

    def _final(self, level: str, text: str) -> None:
        self.final_lines.append((level, text))
        self._write(level, text)

    def remind(self) -> None:
        """Say again how the run ended (a finished module keeps saying it is alive)."""
        for level, text in self.final_lines[-3:]:
            self._write(level, text)

    def serve_finished(self, run_id: str, document: dict[str, object]) -> None:
        """A run that ended before this driver started: serve its summary's outcome."""
        calls = document.get("calls")
        self.jobs_completed = calls if isinstance(calls, int) else 0
        self.final_tick = int(str(document.get("finalTick", 0)))
        outcome = str(document.get("outcome"))
        self.board.update(
            state=_STATES.get(outcome, outcome),
            jobsCompleted=self.shown_jobs,
            tick=self.final_tick,
            finalTick=self.final_tick,
        )
        self.finished = True
        if outcome == "success":
            self._final("INFO", f"run {run_id} has finished: {self.shown_jobs} jobs completed")
        else:
            error = one_line(str(document.get("error") or outcome))
            self._final("ERROR", f"run {run_id} has ended ({outcome}): {error}")

    def heartbeat(self) -> None:
        """An ``INFO:`` line for calls running :data:`HEARTBEAT_INTERVAL` s or longer, if
        nothing was said for that long."""
        now = self.clock()
        if not self._running or now - self._heard_at < HEARTBEAT_INTERVAL:
            return
        long = sorted(
            (started, key)
            for key, started in list(self._running.items())
            if now - started >= HEARTBEAT_INTERVAL
        )
        if not long:
            return
        named = ", ".join(
            f"{module} ({mode} at tick {tick}) for {_duration(now - started)}"
            for started, (module, mode, tick) in long[:3]
        )
        more = f" and {len(long) - 3} more" if len(long) > 3 else ""
        self.info(f"still running: {named}{more}; {self.jobs_completed} jobs completed")
        self._heard_at = now

    def _module_line(self, event: ModuleLine) -> None:
        if event.level == "INFO":
            now = self.clock()
            start, count = self._rates.get(event.module, (now, 0))
            if now - start >= RATE_WINDOW:
                if count > RATE_LINES:
                    self.info(
                        f"[{event.module}] {count - RATE_LINES} more INFO lines not shown "
                        f"(at most {RATE_LINES} a minute per module; all are in the run's logs)"
                    )
                start, count = now, 0
            self._rates[event.module] = (start, count + 1)
            if count >= RATE_LINES:
                return
        self._write(event.level, f"[{event.module}] {event.text}")

    def __call__(self, event: Event) -> None:
        now = self.clock()
        if isinstance(event, CallStarted):
            self._running[(event.module, event.mode, event.tick)] = now
            return
        self._heard_at = now
        if isinstance(event, RunStarted):
            self._run_started(event)
        elif isinstance(event, TickStarted):
            self.board.update(tick=event.tick, simulatedTime=event.time.isoformat())
            if self._reported_at is None or now - self._reported_at >= self.interval:
                self._reported_at = now
                self.info(
                    f"tick {event.tick}/{self.final_tick} ({event.time.isoformat()}): "
                    f"{self.jobs_completed} jobs completed"
                )
        elif isinstance(event, CallFinished):
            self._running.pop((event.module, event.mode, event.tick), None)
            if event.outcome == "success":
                self.jobs_completed += 1
                self.board.update(jobsCompleted=self.shown_jobs)
            else:
                self.error(
                    f"module {event.module} {event.mode} at tick {event.tick} failed "
                    f"(attempt {event.attempt}): {one_line(event.reason or '')}"
                )
        elif isinstance(event, ModuleLine):
            self._module_line(event)
        elif isinstance(event, ServiceStarted):
            self.info(f"service {event.module} ready at {event.api}")
        elif isinstance(event, RunFinished):
            self._run_finished(event)

    def _run_started(self, event: RunStarted) -> None:
        # The run's true count; the lifetime count keeps each run's highest, so a call
        # cut off by a SIGKILL after it was shown, and run again, is not counted twice.
        self.jobs_completed = event.calls_done
        self.final_tick = event.final_tick
        self.board.update(
            state="running",
            jobsCompleted=self.shown_jobs,
            tick=event.initial_tick,
            finalTick=event.final_tick,
            simulatedTime=event.initial_time.isoformat(),
        )
        carried = f", {event.calls_done} done before" if event.calls_done else ""
        self.info(
            f"run {event.run_id} started: ticks {event.initial_tick}..{event.final_tick}, "
            f"{event.call_count} calls{carried}"
        )

    def _run_finished(self, event: RunFinished) -> None:
        self.finished = True
        self._running.clear()
        self.board.update(state=_STATES.get(event.outcome, event.outcome))
        if event.outcome == "success":
            self.board.update(tick=self.final_tick)
            self._final(
                "INFO",
                f"run finished: {self.jobs_completed} jobs completed in {event.wall_time:.2f} s",
            )
        elif event.outcome == "interrupted":
            self._final(
                "INFO",
                f"run {(event.error or 'interrupted').partition(chr(10))[0]} "
                f"({self.jobs_completed} jobs completed)",
            )
        else:
            self._final("ERROR", f"run failed: {one_line(event.error or '')}")
            self._final(
                "ERROR",
                f"the run stays stopped; fix the cause, then remove {event.run_dir} "
                "(or give the run another --run-id) and restart this module",
            )


def _duration(seconds: float) -> str:
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"
