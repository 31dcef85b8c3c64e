"""Rich progress on a terminal: tick, simulated time, calls/s, ETA; module lines above it."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from simba.events import (
    CallFinished,
    Event,
    ModuleLine,
    RunFinished,
    RunStarted,
    RunWarning,
    ServiceStats,
    TickStarted,
)


class ProgressObserver:
    """A rich progress bar for the run, with module lines, failures and warnings above it."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.progress: Progress | None = None
        self.task: Any = None
        self.started = time.perf_counter()
        self.calls = 0
        self.final_tick = 0
        self.service_jobs: dict[str, int] = {}
        """The latest ``jobsCompleted`` of each service, shown after the ETA."""

    def __call__(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            self._start(event)
        elif self.progress is None:
            return
        elif isinstance(event, TickStarted):
            label = event.mode if event.mode != "step" else str(event.tick)
            self.progress.update(
                self.task, tick=f"{label}/{self.final_tick}", simulated=event.time.isoformat()
            )
        elif isinstance(event, CallFinished):
            self._call_finished(self.progress, event)
        elif isinstance(event, ServiceStats):
            self.service_jobs[event.module] = event.jobs_completed
            jobs = " ".join(f"{name}: {n} jobs" for name, n in self.service_jobs.items())
            self.progress.update(self.task, services=escape(jobs))
        elif isinstance(event, ModuleLine):
            style = "red" if event.level == "ERROR" else "cyan"
            self.console.print(
                f"[{style}]{event.module}[/] {event.level}: {escape(event.text)}", highlight=False
            )
        elif isinstance(event, RunWarning):
            where = event.module or "run"
            self.console.print(
                f"[yellow]warning[/] {where}: {escape(event.message)}", highlight=False
            )
        elif isinstance(event, RunFinished):
            self.progress.stop()
            self.progress = None

    def _start(self, event: RunStarted) -> None:
        """Show the bar: tick, simulated time, calls, calls/s, elapsed, ETA, services."""
        self.progress = Progress(
            TextColumn("[bold]tick[/] {task.fields[tick]}"),
            TextColumn("{task.fields[simulated]}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total} calls"),
            TextColumn("{task.fields[rate]} calls/s"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[services]}"),
            console=self.console,
            transient=False,
        )
        self.progress.start()
        self.task = self.progress.add_task(
            "run",
            total=event.call_count,
            tick=f"{event.initial_tick}/{event.final_tick}",
            simulated=event.initial_time.isoformat(),
            rate="-",
            services="",
        )
        self.final_tick = event.final_tick
        self.started = time.perf_counter()

    def _call_finished(self, progress: Progress, event: CallFinished) -> None:
        """Advance the bar on success; print a failed attempt above it."""
        if event.outcome == "success":
            self.calls += 1
            elapsed = max(time.perf_counter() - self.started, 1e-9)
            progress.update(self.task, advance=1, rate=f"{self.calls / elapsed:.1f}")
        else:
            self.console.print(
                f"[red]{event.module} {event.mode} at tick {event.tick} failed[/] "
                f"(attempt {event.attempt}): {escape(event.reason or '')}",
                markup=True,
                highlight=False,
            )
