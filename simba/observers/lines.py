"""The words of a run's live output, shared by the plain lines and the rich display.

Both show the same things in the same words (see ``docs/cli.rst``): the run's id and
directory at its start, a module's INFO/ERROR line with the module's name, tick and
simulated time, a failed attempt in one line, and each warning once, with the count of
its repeats at the end of the run (:class:`WarningTally`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from simba.events import CallFinished, ModuleLine, RunStarted, RunWarning, TickStarted
from simba.wording import counted

_LOG_HEADER = "; last lines of its "
"""Where a failure's message goes on with the lines of its log (see the outcome block)."""


def started(event: RunStarted) -> tuple[str, str]:
    """``run ID: DIR``, and the range of ticks, times and calls."""
    carried = f", {event.calls_done} done before" if event.calls_done else ""
    return (
        f"run {event.run_id}: {event.run_dir}",
        f"ticks {event.initial_tick}..{event.final_tick} "
        f"({event.initial_time.isoformat()} .. {event.final_time.isoformat()}), "
        f"{counted(event.call_count, 'call')}{carried}",
    )


def failed_attempt(event: CallFinished) -> str:
    """``b step at tick 2: attempt 1 failed: exited with code 3``, in one line.

    The engine passes the first line of the failure's message; when that line announces
    the lines of a log, they come once, in the outcome block at the end (or, for an
    attempt that was retried, in the log the run directory keeps).
    """
    reason = (event.reason or event.outcome).partition("\n")[0]
    head, _, _ = reason.partition(_LOG_HEADER)
    prefix = f"module {event.module!r} ("
    if head.startswith(prefix) and ")" in head:  # it names the call, as the line does
        head = head.partition(")")[2].lstrip(": ") or head
    call = f"{event.module} {event.mode} at tick {event.tick}"
    return f"{call}: attempt {event.attempt} failed: {head}"


#: How many of the latest ticks :class:`SimulatedTimes` keeps (a module's line comes
#: in its call's batch, right after that batch's TickStarted).
KEPT_TICKS = 64


@dataclass(slots=True)
class SimulatedTimes:
    """The simulated time of the latest ticks seen (:class:`TickStarted` carries it);
    memory stays flat however many ticks a run has."""

    times: dict[int, datetime] = field(default_factory=dict)

    def see(self, event: TickStarted) -> None:
        self.times[event.tick] = event.time
        if len(self.times) > KEPT_TICKS:
            del self.times[next(iter(self.times))]

    def where(self, tick: int) -> str:
        """``tick 3 2024-01-04T00:00:00``; only the tick when its time is not known."""
        time = self.times.get(tick)
        return f"tick {tick}" if time is None else f"tick {tick} {time.isoformat()}"


def module_line(event: ModuleLine, times: SimulatedTimes) -> str:
    """``tick 3 2024-01-04T00:00:00 [epi] INFO: text``."""
    return f"{times.where(event.tick)} [{event.module}] {event.level}: {event.text}"


def warning(event: RunWarning) -> str:
    """``warning: module 'b' (tick 3): text``."""
    where = f"module {event.module!r}" if event.module else "run"
    tick = f" (tick {event.tick})" if event.tick is not None else ""
    return f"warning: {where}{tick}: {event.message}"


@dataclass(slots=True)
class WarningTally:
    """Each distinct warning once; how many more like it came (same module, same text).

    The run database keeps every one; the terminal shows the first live and the count
    of the others at the end (:meth:`recap`).
    """

    counts: dict[tuple[str | None, str], int] = field(default_factory=dict)
    first: dict[tuple[str | None, str], RunWarning] = field(default_factory=dict)

    def is_new(self, event: RunWarning) -> bool:
        """Count ``event``; whether it is the first of its kind (then show it)."""
        key = (event.module, event.message)
        count = self.counts.get(key, 0)
        self.counts[key] = count + 1
        if count == 0:
            self.first[key] = event
        return count == 0

    def recap(self) -> list[str]:
        """A line for each warning that came more than once, with the count of the others."""
        return [
            f"{warning(self.first[key])} (and {count - 1:,} more like it)"
            for key, count in self.counts.items()
            if count > 1
        ]
