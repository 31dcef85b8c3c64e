"""The ``local`` type: one process per call (DESIGN §6).

The process gets its own process group and stdin from /dev/null.  Its stdout and
stderr come through pipes and are streamed to ``stdout_<i>`` / ``stderr_<i>``, each
file created when the first byte arrives (a silent module costs no file creation;
nothing is held in memory).  ``INFO:`` / ``ERROR:`` lines on stdout are picked out on
the way.  One ``poll`` waits for output, for the exit (a pidfd where the platform has
one) and for the timeout at once, so a call returns the moment its process exits.

When the process has exited, anything it left in its group is killed, so no module
process outlives its call.  A timeout or ``cancel()`` sends SIGTERM to the group, then
SIGKILL after a grace period.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import threading
import time
from collections.abc import Mapping
from pathlib import Path

from ..scenario import ModuleSpec
from .base import CallRequest, CallResult, Runner

#: Seconds between SIGTERM and SIGKILL.
GRACE_PERIOD = 5.0
#: After the module exited, how long to wait for pipes that something else holds open.
DRAIN_PERIOD = 1.0
#: At most this many INFO:/ERROR: lines are reported per call.
MAX_LINES = 1000
#: A line longer than this is not inspected for an INFO:/ERROR: prefix beyond its start.
_MAX_LINE = 65536
_CHUNK = 65536


class LocalRunner(Runner):
    """Runs calls as local processes; ``environment`` is added to every module's."""

    def __init__(
        self, *, grace_period: float = GRACE_PERIOD, environment: Mapping[str, str] | None = None
    ) -> None:
        self.grace_period = grace_period
        self.environment = dict(environment or {})
        self._environments: dict[str, Mapping[str, str]] = {}
        self._running: set[int] = set()
        self._lock = threading.Lock()
        self._cancelled = False
        # Readable once cancel() was called: wakes every call's poll at once.
        self._wake_read, self._wake_write = os.pipe()

    def run(self, request: CallRequest) -> CallResult:
        module = request.module
        started = time.perf_counter()
        out_read, out_write = os.pipe()
        err_read, err_write = os.pipe()
        try:
            process = subprocess.Popen(
                [*module.argv, str(request.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=out_write,
                stderr=err_write,
                cwd=module.working_directory,
                env=self._environment(module),
                start_new_session=True,
            )
        except OSError as exc:
            for fd in (out_read, err_read):
                os.close(fd)
            _append(request.stderr_path, f"SIMBA could not start {module.argv[0]}: {exc}\n")
            return CallResult(exit_code=None, wall_time=time.perf_counter() - started)
        finally:
            os.close(out_write)
            os.close(err_write)
        with self._lock:
            self._running.add(process.pid)
            cancelled = self._cancelled
        stdout = _Sink(request.stdout_path, lines=True)
        stderr = _Sink(request.stderr_path)
        try:
            if cancelled:
                _signal_group(process.pid, signal.SIGTERM)
            timed_out = self._supervise(
                process, request.timeout, {out_read: stdout, err_read: stderr}
            )
            returncode = process.wait()
        finally:
            with self._lock:
                self._running.discard(process.pid)
            stdout.close()
            stderr.close()
        return CallResult(
            exit_code=returncode if returncode >= 0 else None,
            signal=-returncode if returncode < 0 else None,
            timed_out=timed_out,
            cancelled=self._cancelled,
            wall_time=time.perf_counter() - started,
            lines=tuple(stdout.found),
        )

    def cancel(self) -> None:
        """SIGTERM to every running call's group now, SIGKILL after the grace period."""
        with self._lock:
            if self._cancelled:
                return
            self._cancelled = True
            running = list(self._running)
        os.write(self._wake_write, b"x")
        for pid in running:
            _signal_group(pid, signal.SIGTERM)

    def shutdown(self) -> None:
        with self._lock:
            running = list(self._running)
        for pid in running:  # pragma: no cover - only if run() is still going elsewhere
            _signal_group(pid, signal.SIGKILL)
        for fd in (self._wake_read, self._wake_write):
            with contextlib.suppress(OSError):
                os.close(fd)

    def _environment(self, module: ModuleSpec) -> Mapping[str, str]:
        environment = self._environments.get(module.name)
        if environment is None:
            environment = self._environments[module.name] = {
                **os.environ,
                **self.environment,
                **module.env,
            }
        return environment

    def _supervise(
        self, process: subprocess.Popen[bytes], timeout: float | None, pipes: dict[int, _Sink]
    ) -> bool:
        """Stream output until the process has exited and its pipes are closed.

        Returns whether the timeout struck.  The process is left unreaped (a zombie),
        so its process group id cannot be reused before the group is killed.
        """
        pid = process.pid
        exit_fd = _pidfd(pid)
        poller = select.poll()
        for fd in pipes:
            poller.register(fd, select.POLLIN)
        if exit_fd is not None:
            poller.register(exit_fd, select.POLLIN)
        wake = self._wake_read
        poller.register(wake, select.POLLIN)
        now = time.monotonic()
        deadline = None if timeout is None else now + timeout
        kill_at: float | None = None
        drain_until: float | None = None
        timed_out = exited = False
        try:
            while pipes or not exited:
                wait = _earliest(deadline, kill_at, drain_until)
                if exit_fd is None and not exited:  # no pidfd: look every 10 ms
                    wait = 0.01 if wait is None else min(wait, 0.01)
                events = poller.poll(None if wait is None else max(0, int(wait * 1000) + 1))
                for fd, _ in events:
                    if fd == wake:  # cancelled: the group has had SIGTERM
                        poller.unregister(fd)
                        if not exited and kill_at is None:
                            kill_at = time.monotonic() + self.grace_period
                    elif fd == exit_fd:
                        poller.unregister(fd)
                        exited = True
                    else:
                        data = os.read(fd, _CHUNK)
                        if data:
                            pipes[fd].write(data)
                        else:
                            poller.unregister(fd)
                            os.close(fd)
                            del pipes[fd]
                if not exited and exit_fd is None:
                    exited = _has_exited(pid)
                now = time.monotonic()
                if exited and drain_until is None:
                    # Whatever the module left in its group goes now; the leader is a
                    # zombie, so the group id is still its own.
                    _signal_group(pid, signal.SIGKILL)
                    drain_until = now + DRAIN_PERIOD
                if drain_until is not None and now >= drain_until:
                    break  # something outside the group holds the pipes; stop reading
                if deadline is not None and now >= deadline and not exited:
                    timed_out, deadline = True, None
                    _signal_group(pid, signal.SIGTERM)
                    kill_at = now + self.grace_period
                if kill_at is not None and now >= kill_at and not exited:
                    _signal_group(pid, signal.SIGKILL)
                    kill_at = None
        finally:
            for fd in pipes:
                os.close(fd)
            if exit_fd is not None:
                os.close(exit_fd)
        return timed_out


class _Sink:
    """A file created on the first byte written; optionally picks out INFO/ERROR lines."""

    __slots__ = ("_fd", "_partial", "found", "lines", "path")

    def __init__(self, path: Path, *, lines: bool = False) -> None:
        self.path = path
        self.lines = lines
        self.found: list[tuple[str, str]] = []
        self._fd: int | None = None
        self._partial = b""

    def write(self, data: bytes) -> None:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]
        if self.lines and len(self.found) < MAX_LINES:
            self._scan(data)

    def _scan(self, data: bytes) -> None:
        text = self._partial + data
        *complete, self._partial = text.split(b"\n")
        if len(self._partial) > _MAX_LINE:
            self._partial = self._partial[:16]
        for line in complete:
            if line.startswith((b"INFO:", b"ERROR:")) and len(self.found) < MAX_LINES:
                level, _, rest = line.decode("utf-8", "replace").partition(":")
                self.found.append((level, rest.strip()))

    def close(self) -> None:
        if self.lines and self._partial:
            self._scan(b"\n")
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _append(path: Path, text: str) -> None:
    with path.open("a", encoding="utf-8") as handle:
        handle.write(text)


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


def _has_exited(pid: int) -> bool:  # pragma: no cover - platforms without pidfd
    try:
        info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return True
    return info is not None


def kill_leftovers(run_dir: Path) -> int:
    """Kill the process groups of module processes an earlier driver of ``run_dir`` left.

    Every module process gets ``SIMBA_RUN_DIR`` in its environment; a driver killed
    with SIGKILL cannot stop its modules, so the next driver of the run does.  Linux
    only (reads /proc); returns how many groups were killed.
    """
    marker = f"SIMBA_RUN_DIR={run_dir}".encode()
    killed = 0
    proc = Path("/proc")
    if not proc.is_dir():  # pragma: no cover - not Linux
        return 0
    own = os.getpid()
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == own:
            continue
        try:
            environ = (entry / "environ").read_bytes()
            if marker not in environ.split(b"\0"):
                continue
            group = os.getpgid(int(entry.name))
            if group == os.getpgrp():  # never our own group
                os.kill(int(entry.name), signal.SIGKILL)
            else:
                _signal_group(group, signal.SIGKILL)
            killed += 1
        except OSError:
            continue
    return killed


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)
