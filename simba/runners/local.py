"""The ``local`` type: one process per call (DESIGN §6).

The process gets its own process group, stdin from /dev/null and stdout/stderr
straight into files (nothing is held in memory).  Waiting uses a pidfd where the
platform has one, so a call returns the moment its process exits, and a timeout
costs no polling.  When the process has exited, anything it left in its group is
killed, so no module process outlives its call.  A timeout or ``cancel()`` sends
SIGTERM to the group, then SIGKILL after a grace period.
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

from ..scenario import ModuleSpec
from .base import CallRequest, CallResult, Runner

#: Seconds between SIGTERM and SIGKILL.
GRACE_PERIOD = 5.0


class LocalRunner(Runner):
    def __init__(self, *, grace_period: float = GRACE_PERIOD) -> None:
        self.grace_period = grace_period
        self._environments: dict[str, Mapping[str, str]] = {}
        self._running: dict[int, subprocess.Popen[bytes]] = {}
        self._lock = threading.Lock()
        self._cancelled = False

    def run(self, request: CallRequest) -> CallResult:
        module = request.module
        stdout = os.open(request.stdout_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        stderr = os.open(request.stderr_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        started = time.perf_counter()
        try:
            process = subprocess.Popen(
                [*module.argv, str(request.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
                cwd=module.working_directory,
                env=self._environment(module),
                start_new_session=True,
            )
        except OSError as exc:
            os.write(stderr, f"SIMBA could not start {module.argv[0]}: {exc}\n".encode())
            return CallResult(exit_code=None, wall_time=time.perf_counter() - started)
        finally:
            os.close(stdout)
            os.close(stderr)
        with self._lock:
            self._running[process.pid] = process
            cancelled = self._cancelled
        try:
            if cancelled:
                self._stop(process)
            timed_out = not _wait(process, request.timeout)
            if timed_out:
                self._stop(process)
            returncode = _reap(process)
        finally:
            with self._lock:
                del self._running[process.pid]
        return CallResult(
            exit_code=returncode if returncode >= 0 else None,
            signal=-returncode if returncode < 0 else None,
            timed_out=timed_out,
            cancelled=self._cancelled,
            wall_time=time.perf_counter() - started,
        )

    def cancel(self) -> None:
        with self._lock:
            self._cancelled = True
            running = list(self._running.values())
        for process in running:
            threading.Thread(target=self._stop, args=(process,), daemon=True).start()

    def shutdown(self) -> None:
        self.cancel()

    def _environment(self, module: ModuleSpec) -> Mapping[str, str]:
        environment = self._environments.get(module.name)
        if environment is None:
            environment = self._environments[module.name] = {**os.environ, **module.env}
        return environment

    def _stop(self, process: subprocess.Popen[bytes]) -> None:
        """SIGTERM to the group, SIGKILL after the grace period."""
        _signal_group(process.pid, signal.SIGTERM)
        if not _wait(process, self.grace_period):
            _signal_group(process.pid, signal.SIGKILL)


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def _wait(process: subprocess.Popen[bytes], timeout: float | None) -> bool:
    """Wait until ``process`` has exited (without reaping it); False on timeout."""
    if timeout is None:
        _wait_exited(process.pid)
        return True
    if hasattr(os, "pidfd_open"):
        try:
            fd = os.pidfd_open(process.pid)
        except ProcessLookupError:
            return True
        try:
            poller = select.poll()
            poller.register(fd, select.POLLIN)
            return bool(poller.poll(max(0, int(timeout * 1000))))
        finally:
            os.close(fd)
    try:  # pragma: no cover - platforms without pidfd
        process.wait(timeout)
    except subprocess.TimeoutExpired:  # pragma: no cover
        return False
    return True  # pragma: no cover


def _wait_exited(pid: int) -> None:
    while True:
        try:
            os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
            return
        except InterruptedError:  # pragma: no cover - PEP 475 retries for us
            continue
        except ChildProcessError:  # already reaped
            return


def _reap(process: subprocess.Popen[bytes]) -> int:
    """Kill what the module left in its group, then collect its exit status."""
    if process.returncode is None:
        _wait_exited(process.pid)
        # The leader is a zombie now, so its group id cannot be reused yet.
        _signal_group(process.pid, signal.SIGKILL)
    return process.wait()
