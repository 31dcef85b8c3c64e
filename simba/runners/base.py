"""The runner contract: the one small ABC every back-end implements.

A runner turns a :class:`CallRequest` (a module, the config file already written,
where its output goes, how long it may take) into a :class:`CallResult` (how the
process ended, how long it took, its ``INFO:`` / ``ERROR:`` lines).  It does not read
status files or merge anything: that is the engine's job, the same for every
back-end.  The back-ends: :mod:`~simba.runners.local`, :mod:`~simba.runners.resident`,
:mod:`~simba.runners.parsl`, :mod:`~simba.runners.fake` (in memory, for tests), and
:mod:`~simba.runners.router` (one runner per module type).  Runners never import the
engine.

The contract, which holds for every runner:

- ``start()`` is called once before the first call, ``shutdown()`` once after the
  last (also after a failure or a signal); both may be no-ops.
- ``run()`` blocks until the call has ended; it may be called from several threads
  at once.  A call that cannot start returns a result with ``error`` set; ``run()``
  raises only for bugs.
- ``run()`` calls ``request.meanwhile()`` (if given) exactly once, after the call has
  been handed to the module (process started, request sent, task submitted) and
  before waiting for its end: the engine's chance to prepare the next call off the
  critical path.  A call that could not be handed over skips it (the engine then
  does that work itself).
- ``cancel()`` stops every running call soon (from another thread or a signal
  handler); those calls return with ``cancelled`` set.
"""

from __future__ import annotations

import os
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from simba.events import Level, Placement, Usage
from simba.scenario import ModuleSpec


@dataclass(frozen=True, slots=True, kw_only=True)
class CallRequest:
    module: ModuleSpec
    config_path: Path
    stdout_path: Path
    stderr_path: Path
    timeout: float | None
    meanwhile: Callable[[], None] | None = None
    """Work to do while the module runs (it must not fail the call)."""
    document: str | None = None
    """The config document itself as one line of JSON, for a module that takes it inline
    (no config file; :func:`simba.runners.inline.document_text`)."""
    in_memory: bool = False
    """Keep an inline call's output in memory (a journal run records it), not in files."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CallResult:
    exit_code: int | None
    """The exit status, or ``None`` if the process was ended by a signal."""
    signal: int | None = None
    timed_out: bool = False
    cancelled: bool = False
    wall_time: float = 0.0
    lines: tuple[tuple[Level, str], ...] = ()
    """``(level, text)`` of the ``INFO:`` / ``ERROR:`` lines the module printed."""
    error: str | None = None
    """Why the call failed before any exit status could count (e.g. it could not start)."""
    usage: Usage | None = None
    """The module process's CPU time and peak memory for this call, where measured."""
    usage_later: Callable[[], Usage | None] | None = None
    """Gives the usage instead (once the engine needs it: a resident inline call's is read
    off the path between two calls); :meth:`measured_usage` asks whichever is set."""
    placement: Placement | None = None
    """Where the call ran, where the back-end says (Parsl's executor, block and job)."""
    status: bytes | None = None
    """The status document a module answered inline (then there is no status file)."""
    stdout: bytes | None = None
    """The call's stdout kept in memory (its head), when the request asked for no files."""
    stderr: bytes | None = None

    def measured_usage(self) -> Usage | None:
        return self.usage_later() if self.usage_later is not None else self.usage


def rusage_of(usage: Any) -> Usage | None:
    """A :class:`Usage` from an ``os.wait4`` ``struct_rusage`` (``ru_maxrss`` is KiB on Linux)."""
    if usage is None:
        return None
    return Usage(
        user_cpu=usage.ru_utime, system_cpu=usage.ru_stime, max_rss_kb=int(usage.ru_maxrss)
    )


class Runner(ABC):
    def start(self) -> None:  # noqa: B027 - optional hook
        """Prepare the back-end (before the first call)."""

    @abstractmethod
    def run(self, request: CallRequest) -> CallResult:
        """Run one call to its end."""

    def cancel(self) -> None:  # noqa: B027 - optional hook
        """Stop all running calls."""

    def shutdown(self) -> None:  # noqa: B027 - optional hook
        """Release the back-end (after the last call)."""

    def __enter__(self) -> Runner:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.shutdown()


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


class ProcUsage:
    """A live process's user and system CPU seconds and peak RSS (KiB) from /proc, its two
    files opened once and read again per call (opening them cost more than reading).

    ``stat`` (CPU, current RSS) is read every time; ``status``, whose ``VmHWM`` is the
    peak but which the kernel takes longer to write, only when the current RSS passed
    the peak known or :data:`PEAK_INTERVAL` has gone by: a peak that came and went
    within a call shows at most that much later.
    """

    __slots__ = ("_fds", "_peak", "_peak_read")

    def __init__(self, pid: int) -> None:
        self._peak: int | None = None
        self._peak_read = 0.0
        try:
            stat = os.open(f"/proc/{pid}/stat", os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            self._fds: tuple[int, int] | None = None
            return
        try:
            status = os.open(f"/proc/{pid}/status", os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            os.close(stat)
            self._fds = None
            return
        self._fds = (stat, status)

    def read(self) -> tuple[float, float, int | None] | None:
        """The figures now; ``None`` where there is no /proc (or the process is gone)."""
        if self._fds is None:
            return None
        try:
            stat = os.pread(self._fds[0], 4096, 0)
            fields = stat[stat.rindex(b")") + 2 :].split()
            user, system = int(fields[11]) / _CLOCK_TICKS, int(fields[12]) / _CLOCK_TICKS
            rss = int(fields[21]) * _PAGE_KB
            now = time.monotonic()
            if self._peak is None or rss > self._peak or now - self._peak_read >= PEAK_INTERVAL:
                self._peak, self._peak_read = self._status_peak(), now
        except (OSError, ValueError, IndexError):
            return None
        return user, system, self._peak

    def _status_peak(self) -> int | None:
        assert self._fds is not None
        status = os.pread(self._fds[1], 16384, 0)
        start = status.find(b"VmHWM:")
        return int(status[start + 6 :].split()[0]) if start >= 0 else None

    def close(self) -> None:
        if self._fds is not None:
            for fd in self._fds:
                os.close(fd)
            self._fds = None


#: The longest a call's peak RSS may lag behind (:class:`ProcUsage`), in seconds.
PEAK_INTERVAL = 0.1
_PAGE_KB = (os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096) // 1024
