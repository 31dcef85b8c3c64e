"""What the engine reports while it runs: frozen event records, and the Observer type.

The engine never prints.  Every observer (rich progress, plain lines, JSON, the
trace file, tests) is a callable that receives these events in order, one at a time;
most come from the thread that runs the engine, but concurrent calls and the threads
that watch ``service`` modules emit too (the engine serialises every emit).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

RunOutcome = Literal["success", "failed", "interrupted"]
"""How a run ended."""
CallOutcome = Literal["success", "error", "timeout", "signal", "exit", "status", "fail"]
"""How a call attempt ended: ``success``, or why it failed (as the trace records it)."""
ModeName = Literal["start", "step", "end"]
"""A call's mode as events and files spell it (the value of :class:`simba.plan.Mode`)."""
Level = Literal["INFO", "ERROR"]
"""The level of a line a module printed."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RunStarted:
    run_dir: Path
    run_id: str
    initial_tick: int
    final_tick: int
    initial_time: datetime
    final_time: datetime
    call_count: int
    modules: tuple[str, ...]
    calls_done: int = 0
    """Successful calls so far: those of earlier drivers this run carries over (``--resume``,
    ``continueFromTick``), including the ones it is about to replay."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TickStarted:
    """A batch of calls begins: the start calls, the steps at one tick, or the end calls."""

    mode: ModeName
    tick: int
    time: datetime
    call_count: int


@dataclass(frozen=True, slots=True, kw_only=True)
class CallStarted:
    module: str
    mode: ModeName
    tick: int
    attempt: int
    target_tick: int | None = None
    slot: int = 0
    """The call's place in its batch's serial order."""
    at: float = 0.0
    """Wall-clock seconds since the Unix epoch when the attempt was handed to the runner."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CallFinished:
    module: str
    mode: ModeName
    tick: int
    target_tick: int | None
    attempt: int
    outcome: CallOutcome
    """``success``, or why the call failed: ``exit``, ``signal``, ``timeout``, ``status``."""
    exit_code: int | None
    wall_time: float
    started_at: float
    """Seconds since the run started."""
    reason: str | None = None
    slot: int = 0
    """The call's place in its batch's serial order."""
    signal: int | None = None
    """The signal that ended the module process, if one did."""
    usage: Usage | None = None
    """The module process's resource usage, where the runner measures it."""
    placement: Placement | None = None
    """Where the call ran, where the runner knows (Parsl)."""
    status_sha256: str | None = None
    """The SHA-256 of the status file a successful attempt left."""
    ended_at: float = 0.0
    """Wall-clock seconds since the Unix epoch when the attempt ended."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Usage:
    """What a module process used during a call (``os.wait4`` rusage, or /proc for
    resident modules); ``None`` where it could not be measured."""

    user_cpu: float | None = None
    """CPU seconds in user mode."""
    system_cpu: float | None = None
    """CPU seconds in the kernel."""
    max_rss_kb: int | None = None
    """Peak resident set size in KiB (of the process's whole life for resident modules)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Placement:
    """Where a call ran: the host, and for Parsl the executor, block and job."""

    host: str | None = None
    executor: str | None = None
    block_id: str | None = None
    job_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ModuleLine:
    """An ``INFO:`` or ``ERROR:`` line a module printed on stdout."""

    module: str
    tick: int
    level: Level
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceStarted:
    """A ``service`` module printed its ``API:`` line and is ready."""

    module: str
    api: str
    pid: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceStats:
    """A poll of a service's API found a new ``jobsCompleted``."""

    module: str
    jobs_completed: int


@dataclass(frozen=True, slots=True, kw_only=True)
class RunWarning:
    """Something the user should know that does not stop the run."""

    message: str
    module: str | None = None
    tick: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RunFinished:
    run_dir: Path
    outcome: RunOutcome
    calls: int
    wall_time: float
    error: str | None = None


Event = (
    RunStarted
    | TickStarted
    | CallStarted
    | CallFinished
    | ModuleLine
    | ServiceStarted
    | ServiceStats
    | RunWarning
    | RunFinished
)
Observer = Callable[[Event], None]
