"""A module process: its own group, its streamed output, its end, and /proc sweeps.

A :class:`ModuleProcess` is a module program started in its own process group, its
stdout and stderr on pipes.  :meth:`ModuleProcess.supervise` is the one poll-and-drain
loop of SIMBA (local and resident calls, hosted services): it streams both pipes into
:class:`~simba.output.Output` objects (a call's :class:`~simba.output.Sink` files, a
service's log) while one ``poll`` also waits for the process's exit (a pidfd where
the platform has one), for a wake-up (cancellation) and for the timeout, so it returns
the moment there is something to do.  A timeout or cancellation sends SIGTERM to the
group, then SIGKILL after a grace period.

How output is cut into lines and ``INFO:`` / ``ERROR:`` lines are picked is
:mod:`simba.output`, the same for every runner and service.  :func:`other_processes`
is the one /proc scan, behind :func:`kill_leftovers` (an earlier driver's modules),
:func:`stop_leftovers` (what a run's modules left running when it ends),
:func:`kill_marked` and :func:`kill_holding` (what Parsl blocks left).
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simba.output import CHUNK, Output

#: A new process group for the module (not a new session: on this kind of machine
#: setsid() made each process start about 0.1 ms slower, and the group is what SIMBA
#: signals).  Python 3.10 has only start_new_session.
_OWN_GROUP: dict[str, Any] = (
    {"process_group": 0} if sys.version_info >= (3, 11) else {"start_new_session": True}
)
#: Seconds between SIGTERM and SIGKILL.
GRACE_PERIOD = 5.0
#: After the module exited, how long to wait for pipes that something else holds open.
DRAIN_PERIOD = 1.0
#: Once a module's output pipes have closed, how long to look for its exit without sleeping.
_EXIT_SPIN = 0.0002
#: Longest single wait in seconds: ``poll`` takes milliseconds as a C int (2**31 ms is
#: under 25 days), so longer timeouts are waited for in pieces of this length.
LONGEST_WAIT = 3600.0


class Cancellation:
    """A one-way switch that wakes every supervised call at once (``fd`` turns readable)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.cancelled = False
        self.fd, self._write_fd = os.pipe()

    def cancel(self) -> None:
        with self._lock:
            if self.cancelled:
                return
            self.cancelled = True
        os.write(self._write_fd, b"x")

    def close(self) -> None:
        for fd in (self.fd, self._write_fd):
            with contextlib.suppress(OSError):
                os.close(fd)


@dataclass(slots=True)
class Supervision:
    """How a supervised stretch ended: whether the timeout stopped the process."""

    timed_out: bool = False


class ModuleProcess:
    """A module program in its own process group, with its output on pipes."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        cwd: Path,
        env: Mapping[str, str] | None,
        stdin: int | None = subprocess.DEVNULL,
    ) -> None:
        out_read, out_write = os.pipe()
        err_read, err_write = os.pipe()
        try:
            self.popen = subprocess.Popen(
                list(argv),
                stdin=stdin,
                stdout=out_write,
                stderr=err_write,
                cwd=cwd,
                env=env,
                **_OWN_GROUP,
            )
        except OSError:
            os.close(out_read)
            os.close(err_read)
            raise
        finally:
            os.close(out_write)
            os.close(err_write)
        self.pid = self.popen.pid
        self.stdout_fd: int | None = out_read
        self.stderr_fd: int | None = err_read
        self.exit_fd = open_pidfd(self.pid)
        self.exited = False
        self.usage: Any = None
        """The process's ``resource.struct_rusage`` once :meth:`reap` collected it."""

    def signal_group(self, signum: int) -> None:
        signal_group(self.pid, signum)

    def supervise(
        self,
        stdout: Output,
        stderr: Output,
        *,
        timeout: float | None = None,
        wake_fd: int | None = None,
        grace_period: float = GRACE_PERIOD,
        drain_period: float = DRAIN_PERIOD,
        until: Callable[[], bool] = lambda: False,
        on_exit: Callable[[], None] | None = None,
        spin: float = 0.0,
    ) -> Supervision:
        """Stream output until ``until()`` holds, or the process has exited and its pipes closed.

        ``wake_fd`` turning readable (cancellation) or the timeout sends SIGTERM to the
        group, SIGKILL ``grace_period`` later.  The moment the exit is seen, ``on_exit``
        is called and the rest of the group is killed (the leader is still unreaped, so
        the group id cannot have been reused); pipes that something outside the group
        holds open are read for ``drain_period`` more seconds at most.

        ``spin``: look for output without sleeping for up to this many seconds first.  A
        process that answers within it is read at once: waking a sleeping driver costs
        a cross-CPU wake-up, longer than a quick module's whole answer (scale).
        """
        watch = _Watch(self, stdout, stderr, wake_fd=wake_fd, timeout=timeout)
        if spin > 0:
            watch.spin_until = time.perf_counter() + spin
        while not until() and (watch.pipes or not self.exited):
            for fd in watch.ready_fds():
                watch.handle(fd, grace_period)
            if not self.exited and self.exit_fd is None:
                self.exited = has_exited(self.pid)
            now = time.monotonic()
            if self.exited and watch.drain_until is None:
                if on_exit is not None:
                    on_exit()
                self.signal_group(signal.SIGKILL)  # whatever the module left in its group
                watch.drain_until = now + drain_period
            if watch.drain_until is not None and now >= watch.drain_until:
                break  # something outside the group holds the pipes; stop reading
            watch.keep_time(now, grace_period)
        return Supervision(timed_out=watch.timed_out)

    def wait_exit(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the process to exit (without reaping it)."""
        if self.exited:
            return True
        deadline = time.monotonic() + timeout
        if self.exit_fd is not None:
            poller = select.poll()
            poller.register(self.exit_fd, select.POLLIN)
            while True:
                if poller.poll(_milliseconds(_earliest(deadline))):  # never back to False:
                    self.exited = True  # another thread may have seen the exit (the pidfd
                    return True  # stays readable)
                if time.monotonic() >= deadline:
                    return self.exited
        while time.monotonic() < deadline:  # pragma: no cover
            if has_exited(self.pid):
                self.exited = True
                return True
            time.sleep(0.01)
        return False  # pragma: no cover

    def stop(self, grace_period: float) -> None:
        """SIGTERM to the group, SIGKILL after the grace period; the process is ended after."""
        if not self.exited:
            self.signal_group(signal.SIGTERM)
            if not self.wait_exit(grace_period):
                self.signal_group(signal.SIGKILL)
                self.wait_exit(grace_period)
        self.signal_group(signal.SIGKILL)

    def reap(self) -> int:
        """Collect the exit status and :attr:`usage` (``os.wait4``); release every descriptor."""
        if self.popen.returncode is None:
            try:
                _, status, self.usage = os.wait4(self.pid, 0)
                self.popen.returncode = os.waitstatus_to_exitcode(status)
            except ChildProcessError:  # reaped elsewhere: Popen knows how it ended
                pass
        returncode = self.popen.wait()
        for fd in (self.stdout_fd, self.stderr_fd):
            if fd is not None:
                self.close_pipe(fd)
        if self.exit_fd is not None:
            os.close(self.exit_fd)
            self.exit_fd = None
        return returncode

    def close_pipe(self, fd: int) -> None:
        os.close(fd)
        if fd == self.stdout_fd:
            self.stdout_fd = None
        elif fd == self.stderr_fd:
            self.stderr_fd = None


class _Watch:
    """The state of one :meth:`ModuleProcess.supervise`: its poller, pipes and moments."""

    def __init__(
        self,
        process: ModuleProcess,
        stdout: Output,
        stderr: Output,
        *,
        wake_fd: int | None,
        timeout: float | None,
    ) -> None:
        self.process = process
        self.pipes = {
            fd: output
            for fd, output in ((process.stdout_fd, stdout), (process.stderr_fd, stderr))
            if fd is not None
        }
        self.poller = select.poll()
        for fd in self.pipes:
            self.poller.register(fd, select.POLLIN)
        if process.exit_fd is not None and not process.exited:
            self.poller.register(process.exit_fd, select.POLLIN)
        self.wake_fd = wake_fd
        if wake_fd is not None:
            self.poller.register(wake_fd, select.POLLIN)
        self.deadline = None if timeout is None else time.monotonic() + timeout
        self.timed_out = False
        self.kill_at: float | None = None
        self.drain_until: float | None = None
        self._spun = False
        self.spin_until = 0.0
        """Until then (``time.perf_counter``), look for output without sleeping."""

    def ready_fds(self) -> list[int]:
        """Wait for a pipe, the exit, a wake-up or the next moment; the ready descriptors."""
        process = self.process
        wait = _earliest(self.deadline, self.kill_at, self.drain_until)
        if process.exit_fd is None and not process.exited:  # no pidfd: look every 10 ms
            wait = 0.01 if wait is None else min(wait, 0.01)
        events = None
        if self.spin_until:
            spin_until, self.spin_until = self.spin_until, 0.0
            while not events and time.perf_counter() < spin_until:
                events = self.poller.poll(0)
        if not events and not self.pipes and not process.exited and not self._spun:
            # The pipes close as the process exits, just before its pidfd turns
            # readable: look for that for a moment rather than sleep and wake again.
            self._spun = True
            spin_until = time.perf_counter() + _EXIT_SPIN
            while not events and time.perf_counter() < spin_until:
                events = self.poller.poll(0)
        if not events:
            events = self.poller.poll(None if wait is None else _milliseconds(wait) + 1)
        return [fd for fd, _ in events]

    def handle(self, fd: int, grace_period: float) -> None:
        process = self.process
        if fd == self.wake_fd:  # cancelled: SIGTERM now, SIGKILL after the grace period
            self.poller.unregister(fd)
            if not process.exited and self.kill_at is None:
                process.signal_group(signal.SIGTERM)
                self.kill_at = time.monotonic() + grace_period
        elif fd == process.exit_fd:
            self.poller.unregister(fd)
            process.exited = True
        else:
            data = os.read(fd, CHUNK)
            if data:
                self.pipes[fd].write(data)
            else:
                self.poller.unregister(fd)
                process.close_pipe(fd)
                self.pipes.pop(fd).close()

    def keep_time(self, now: float, grace_period: float) -> None:
        """SIGTERM at the timeout, SIGKILL when the grace period is over."""
        process = self.process
        if self.deadline is not None and now >= self.deadline and not process.exited:
            self.timed_out, self.deadline = True, None
            process.signal_group(signal.SIGTERM)
            self.kill_at = now + grace_period
        if self.kill_at is not None and now >= self.kill_at and not process.exited:
            process.signal_group(signal.SIGKILL)
            self.kill_at = None


def signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def _earliest(*moments: float | None) -> float | None:
    chosen = [moment for moment in moments if moment is not None]
    return None if not chosen else max(0.0, min(chosen) - time.monotonic())


def _milliseconds(seconds: float | None) -> int:
    """A wait for ``poll``: at most :data:`LONGEST_WAIT` (a timeout of any length is
    waited for in pieces; the callers look at the clock after each)."""
    if seconds is None or not seconds < LONGEST_WAIT:  # also NaN and infinity
        return int(LONGEST_WAIT * 1000)
    return int(seconds * 1000)


def open_pidfd(pid: int) -> int | None:
    if not hasattr(os, "pidfd_open"):
        return None  # pragma: no cover - not Linux
    try:
        return os.pidfd_open(pid)
    except OSError:  # pragma: no cover - very old kernel
        return None


def has_exited(pid: int) -> bool:  # pragma: no cover - platforms without pidfd
    """Whether child ``pid`` has exited, without reaping it (where there is no pidfd)."""
    try:
        info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return True
    return info is not None


def signal_name(number: int | None) -> str:
    """``SIGTERM`` for 15: the name of a signal number, or the number if it has none."""
    try:
        return signal.Signals(number or 0).name
    except ValueError:
        return str(number)
