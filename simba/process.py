"""A module process and its supervision: the part the local and resident runners share.

A :class:`ModuleProcess` is a module program started in its own process group, its
stdout and stderr on pipes.  :meth:`ModuleProcess.supervise` streams both pipes into
:class:`Sink` files while one ``poll`` also waits for the process's exit (a pidfd
where the platform has one), for a wake-up (cancellation) and for the timeout, so it
returns the moment there is something to do.  A timeout or cancellation sends SIGTERM
to the group, then SIGKILL after a grace period.
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
#: At most this many INFO:/ERROR: lines are reported per call.
MAX_LINES = 1000
#: A line longer than this is not inspected beyond its start.
_MAX_LINE = 65536
_CHUNK = 65536


class Sink:
    """Output of one stream for one call: a file created on the first byte.

    Lines starting with ``INFO:`` or ``ERROR:`` are collected in ``found``; with a
    ``done_prefix``, the text of the first line starting with it is kept in ``done``,
    and that line is not written to the file when it ends the output read so far.
    """

    __slots__ = ("_fd", "_partial", "done", "done_prefix", "found", "path")

    def __init__(self, path: Path, *, done_prefix: bytes | None = None) -> None:
        self.path = path
        self.done_prefix = done_prefix
        self.found: list[tuple[str, str]] = []
        self.done: str | None = None
        self._fd: int | None = None
        self._partial = b""

    def write(self, data: bytes) -> None:
        answered = self.done is not None
        self._scan(data)
        if self.done_prefix and not answered and self.done is not None:
            # The answer is protocol, not output: a silent resident call makes no file.
            data = _without_answer(data, self.done_prefix)
            if not data:
                return
        if self._fd is None:
            flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
            try:
                self._fd = os.open(self.path, flags, 0o644)
            except FileNotFoundError:  # the module removed its call directory: make it again
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._fd = os.open(self.path, flags, 0o644)
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]

    def _scan(self, data: bytes) -> None:
        text = self._partial + data
        *complete, self._partial = text.split(b"\n")
        if len(self._partial) > _MAX_LINE:
            self._partial = self._partial[:16]
        for line in complete:
            if line.startswith((b"INFO:", b"ERROR:")):
                if len(self.found) < MAX_LINES:
                    level, _, rest = line.decode("utf-8", "replace").partition(":")
                    self.found.append((level, rest.strip()))
            elif self.done_prefix and self.done is None and line.startswith(self.done_prefix):
                self.done = line[len(self.done_prefix) :].decode("utf-8", "replace").strip()

    def close(self) -> None:
        if self._partial:
            self._scan(b"\n")
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


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
    timed_out: bool = False
    exited: bool = False


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
        self.exit_fd = _pidfd(self.pid)
        self.exited = False

    def signal_group(self, signum: int) -> None:
        signal_group(self.pid, signum)

    def supervise(
        self,
        stdout: Sink,
        stderr: Sink,
        *,
        timeout: float | None,
        wake_fd: int,
        grace_period: float = GRACE_PERIOD,
        until: Callable[[], bool] = lambda: False,
    ) -> Supervision:
        """Stream output until ``until()`` holds, or the process has exited and its pipes closed.

        When the process has exited, the rest of its group is killed (the leader is
        still unreaped, so the group id cannot have been reused).
        """
        outcome = Supervision()
        pipes = {
            fd: sink
            for fd, sink in ((self.stdout_fd, stdout), (self.stderr_fd, stderr))
            if fd is not None
        }
        poller = select.poll()
        for fd in pipes:
            poller.register(fd, select.POLLIN)
        if self.exit_fd is not None and not self.exited:
            poller.register(self.exit_fd, select.POLLIN)
        poller.register(wake_fd, select.POLLIN)
        now = time.monotonic()
        deadline = None if timeout is None else now + timeout
        kill_at: float | None = None
        drain_until: float | None = None
        spin_until: float | None = None
        while not until() and (pipes or not self.exited):
            wait = _earliest(deadline, kill_at, drain_until)
            if self.exit_fd is None and not self.exited:  # no pidfd: look every 10 ms
                wait = 0.01 if wait is None else min(wait, 0.01)
            events = None
            if not pipes and not self.exited and spin_until is None:
                # The pipes close as the process exits, just before its pidfd turns
                # readable: look for that for a moment rather than sleep and wake again.
                spin_until = time.perf_counter() + _EXIT_SPIN
                while not events and time.perf_counter() < spin_until:
                    events = poller.poll(0)
            if not events:
                events = poller.poll(None if wait is None else int(wait * 1000) + 1)
            for fd, _ in events:
                if fd == wake_fd:  # cancelled: SIGTERM now, SIGKILL after the grace period
                    poller.unregister(fd)
                    if not self.exited and kill_at is None:
                        self.signal_group(signal.SIGTERM)
                        kill_at = time.monotonic() + grace_period
                elif fd == self.exit_fd:
                    poller.unregister(fd)
                    self.exited = True
                else:
                    data = os.read(fd, _CHUNK)
                    if data:
                        pipes[fd].write(data)
                    else:
                        poller.unregister(fd)
                        self._close_pipe(fd)
                        del pipes[fd]
            if not self.exited and self.exit_fd is None:
                self.exited = has_exited(self.pid)
            now = time.monotonic()
            if self.exited and drain_until is None:
                self.signal_group(signal.SIGKILL)  # whatever the module left in its group
                drain_until = now + DRAIN_PERIOD
            if drain_until is not None and now >= drain_until:
                break  # something outside the group holds the pipes; stop reading
            if deadline is not None and now >= deadline and not self.exited:
                outcome.timed_out, deadline = True, None
                self.signal_group(signal.SIGTERM)
                kill_at = now + grace_period
            if kill_at is not None and now >= kill_at and not self.exited:
                self.signal_group(signal.SIGKILL)
                kill_at = None
        outcome.exited = self.exited
        return outcome

    def wait_exit(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the process to exit (without reaping it)."""
        if self.exited:
            return True
        if self.exit_fd is not None:
            poller = select.poll()
            poller.register(self.exit_fd, select.POLLIN)
            self.exited = bool(poller.poll(int(timeout * 1000)))
            return self.exited
        deadline = time.monotonic() + timeout  # pragma: no cover - platforms without pidfd
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
        """Collect the exit status and release every descriptor."""
        returncode = self.popen.wait()
        for fd in (self.stdout_fd, self.stderr_fd):
            if fd is not None:
                self._close_pipe(fd)
        if self.exit_fd is not None:
            os.close(self.exit_fd)
            self.exit_fd = None
        return returncode

    def _close_pipe(self, fd: int) -> None:
        os.close(fd)
        if fd == self.stdout_fd:
            self.stdout_fd = None
        elif fd == self.stderr_fd:
            self.stderr_fd = None


def kill_leftovers(run_dir: Path) -> int:
    """Kill the process groups of module processes an earlier driver of ``run_dir`` left.

    Every module process gets ``SIMBA_RUN_DIR`` in its environment; a driver killed
    with SIGKILL cannot stop its modules, so the next driver of the run does.  Linux
    only (reads /proc); returns how many processes were found.
    """
    marker = f"SIMBA_RUN_DIR={run_dir}".encode()
    proc = Path("/proc")
    if not proc.is_dir():  # pragma: no cover - not Linux
        return 0
    own_pid, own_group = os.getpid(), os.getpgrp()
    found = 0
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == own_pid:
            continue
        try:
            if marker not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            pid = int(entry.name)
            group = os.getpgid(pid)
            if group == own_group:  # never our own group
                os.kill(pid, signal.SIGKILL)
            else:
                signal_group(group, signal.SIGKILL)
            found += 1
        except OSError:
            continue
    return found


def signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def _without_answer(data: bytes, prefix: bytes) -> bytes:
    """``data`` without its last line if that line starts with ``prefix`` (a resident answer)."""
    if not data.endswith(b"\n"):
        return data
    start = data.rfind(b"\n", 0, len(data) - 1) + 1
    return data[:start] if data.startswith(prefix, start) else data


def _earliest(*moments: float | None) -> float | None:
    chosen = [moment for moment in moments if moment is not None]
    return None if not chosen else max(0.0, min(chosen) - time.monotonic())


def _pidfd(pid: int) -> int | None:
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
