"""Plain progress lines, for logs, CI and pipes (not a terminal)."""

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
from simba.wording import counted


class PlainObserver:
    """One line per batch, per module INFO/ERROR line, per warning and per failure."""

    def __init__(self, stream: TextIO, *, verbose: bool = False) -> None:
        self.stream = stream
        self.verbose = verbose

    def write(self, line: str) -> None:
        self.stream.write(line + "\n")
        self.stream.flush()

    def __call__(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            self.write(
                f"run {event.run_id}: ticks {event.initial_tick}..{event.final_tick} "
                f"({event.initial_time.isoformat()} .. {event.final_time.isoformat()}), "
                f"{counted(event.call_count, 'call')} of {counted(len(event.modules), 'module')} "
                f"-> {event.run_dir}"
            )
        elif isinstance(event, TickStarted):
            what = "step" if event.mode == "step" else event.mode
            self.write(
                f"tick {event.tick} {event.time.isoformat()} {what}: {event.call_count} "
                f"call{'s' if event.call_count != 1 else ''}"
            )
        elif isinstance(event, CallFinished):
            if event.outcome != "success":
                self.write(
                    f"  {event.module} {event.mode} at tick {event.tick} failed "
                    f"(attempt {event.attempt}): {event.reason}"
                )
            elif self.verbose:
                self.write(f"  {event.module} {event.mode} ok in {event.wall_time:.3f} s")
        elif isinstance(event, ModuleLine):
            self.write(f"  [{event.module}] {event.level}: {event.text}")
        elif isinstance(event, ServiceStarted):
            self.write(f"service {event.module} ready at {event.api} (pid {event.pid})")
        elif isinstance(event, ServiceStats):
            if self.verbose:
                self.write(f"  [{event.module}] jobsCompleted {event.jobs_completed}")
        elif isinstance(event, RunWarning):
            where = f"module {event.module!r}" if event.module else "run"
            tick = f" (tick {event.tick})" if event.tick is not None else ""
            self.write(f"warning: {where}{tick}: {event.message}")
        elif isinstance(event, RunFinished):
            self.write(
                f"run {event.outcome}: {event.calls} calls in {event.wall_time:.2f} s "
                f"-> {event.run_dir}"
            )
