"""Rich progress on a terminal, readable at 80 columns; module lines above it.

Two lines at the bottom of the terminal, redrawn four times a second::

    tick 2/5  2024-01-03T00:00:00  ━━━━━━━━━━━━━━━╸━━━━━━━━━━━━━━━━━━    6/14 calls
    51.1 calls/s  elapsed 0:00:01  ETA 0:00:02

The first keeps the tick, the simulated time and the calls whole and gives the bar what
is left; the second has the rate, the times (never cut short) and the services'
``jobsCompleted``.  Lines above it use the words of the plain output
(:mod:`simba.observers.lines`).
"""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

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


def clock(seconds: float | None) -> str:
    """``0:01:05``, ``27:46:40``: hours as many as it takes; ``-:--:--`` when unknown."""
    if seconds is None:
        return "-:--:--"
    whole = round(seconds)
    return f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}"


class ProgressObserver:
    """The run's display (:meth:`__rich__`), with module lines, failures and warnings above.

    ``quiet``: no display; only the modules' ERROR lines and failed attempts.
    """

    def __init__(self, console: Console, *, quiet: bool = False) -> None:
        self.console = console
        self.quiet = quiet
        self.live: Live | None = None
        self.started = time.perf_counter()
        self.times = SimulatedTimes()
        self.warnings = WarningTally()
        self.tick = 0
        self.mode = ""
        """`` start`` or `` end`` in those batches, after the tick."""
        self.final_tick = 0
        self.simulated = ""
        self.done = 0
        """Successful calls of the run, earlier drivers' included."""
        self.planned = 0
        self.succeeded = 0
        """Successful calls of this driver: the rate and the ETA come from these."""
        self.service_jobs: dict[str, int] = {}
        """The latest ``jobsCompleted`` of each service, shown after the ETA."""

    def __call__(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            self._start(event)
        elif isinstance(event, TickStarted):
            self.times.see(event)
            self.tick = event.tick
            self.mode = "" if event.mode == "step" else f" {event.mode}"
            self.simulated = event.time.isoformat()
        elif isinstance(event, CallFinished):
            if event.outcome == "success":
                self.done += 1
                self.succeeded += 1
            else:
                self.console.print(
                    f"[red]{escape(failed_attempt(event))}[/]", highlight=False, soft_wrap=True
                )
        elif isinstance(event, ServiceStats):
            self.service_jobs[event.module] = event.jobs_completed
        elif isinstance(event, ServiceStarted):
            if not self.quiet:
                line = f"service {event.module} ready at {event.api} (pid {event.pid})"
                self.console.print(escape(line), highlight=False, soft_wrap=True)
        elif isinstance(event, ModuleLine):
            if event.level == "ERROR" or not self.quiet:
                style = "red" if event.level == "ERROR" else "cyan"
                text = escape(module_line(event, self.times))
                self.console.print(f"[{style}]{text}[/]", highlight=False, soft_wrap=True)
        elif isinstance(event, RunWarning):
            if not self.quiet and self.warnings.is_new(event):
                self.console.print(
                    f"[yellow]{escape(warning(event))}[/]", highlight=False, soft_wrap=True
                )
        elif isinstance(event, RunFinished):
            self.close()
            if not self.quiet:
                for line in self.warnings.recap():
                    self.console.print(
                        f"[yellow]{escape(line)}[/]", highlight=False, soft_wrap=True
                    )

    def _start(self, event: RunStarted) -> None:
        self.final_tick = event.final_tick
        self.tick = event.initial_tick
        self.simulated = event.initial_time.isoformat()
        self.done, self.planned = event.calls_done, event.call_count
        self.started = time.perf_counter()
        if self.quiet:
            return
        first, second = started(event)
        self.console.print(f"[bold]{escape(first)}[/]", highlight=False, soft_wrap=True)
        self.console.print(escape(second), highlight=False, soft_wrap=True)
        self.live = Live(self, console=self.console, refresh_per_second=4, transient=False)
        self.live.start()

    def close(self) -> None:
        """Draw the display a last time and leave it where it is (also after a crash)."""
        if self.live is not None:
            self.live.refresh()
            self.live.stop()
            self.live = None

    def eta(self) -> float | None:
        """Seconds to go at this driver's rate so far; ``None`` before the first call."""
        if self.done >= self.planned:
            return 0.0
        elapsed = time.perf_counter() - self.started
        if not self.succeeded or elapsed <= 0:
            return None
        return (self.planned - self.done) * elapsed / self.succeeded

    def __rich__(self) -> Any:
        elapsed = time.perf_counter() - self.started
        top = Table.grid(padding=(0, 2), expand=True)
        top.add_column(no_wrap=True)
        top.add_column(no_wrap=True)
        top.add_column(ratio=1)
        top.add_column(no_wrap=True, justify="right")
        top.add_row(
            Text.assemble(("tick", "bold"), f" {self.tick}/{self.final_tick}{self.mode}"),
            Text(self.simulated),
            ProgressBar(total=max(self.planned, 1), completed=self.done),
            Text(f"{self.done}/{self.planned} calls"),
        )
        rate = f"{self.succeeded / elapsed:.1f}" if self.succeeded and elapsed > 0 else "-"
        second = Text.assemble(
            f"{rate} calls/s  elapsed ",
            (clock(elapsed), "yellow"),
            "  ETA ",
            (clock(self.eta()), "cyan"),
        )
        if self.service_jobs:
            jobs = "  ".join(f"{name}: {n} jobs" for name, n in self.service_jobs.items())
            second.append(f"  {jobs}")
        return Group(top, second)
