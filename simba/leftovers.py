"""Processes of a run found by their marker in ``/proc``, and stopped.

Every module process gets ``SIMBA_RUN_DIR`` in its environment (Parsl's workers a
marker of their own), and keeps it whatever it does: ``setsid``, daemonising, a new
process group.  So what a run's modules left running can be found, named and stopped:
at the end of every driver process (:func:`stop_leftovers`), by the next driver of a
run that was killed (:func:`kill_leftovers`), and by the Parsl session for its own
workers (:func:`kill_marked`, :func:`kill_holding`).  Linux only: elsewhere nothing is
found.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from simba.process import open_pidfd, signal_group

#: Seconds between SIGTERM and SIGKILL for what a run's modules left running at its end.
LEFTOVER_GRACE = 2.0


def kill_leftovers(run_dir: Path) -> int:
    """Kill the process groups of module processes an earlier driver of ``run_dir`` left.

    Every module process gets ``SIMBA_RUN_DIR`` in its environment; a driver killed
    with SIGKILL cannot stop its modules, so the next driver of the run does.  Linux
    only (reads /proc); returns how many processes were found.
    """
    own_group = os.getpgrp()
    found = 0
    for pid in other_processes(marked=f"SIMBA_RUN_DIR={run_dir}"):
        try:
            if (group := os.getpgid(pid)) == own_group:  # never our own group
                os.kill(pid, signal.SIGKILL)
            else:
                signal_group(group, signal.SIGKILL)
        except OSError:
            continue
        found += 1
    return found


@dataclass(frozen=True, slots=True)
class Leftover:
    """A process of a run still running when the run ended: its id and command line."""

    pid: int
    command: str

    def __str__(self) -> str:
        return f"{self.pid} ({self.command})"


def stop_leftovers(run_dir: Path, grace_period: float = LEFTOVER_GRACE) -> list[Leftover]:
    """Stop every other process whose environment has ``SIMBA_RUN_DIR=<run_dir>``.

    For the end of a driver, however it ends: a daemon a module started outlives the
    call, never the run.  Each is held by a pidfd (its id cannot be reused meanwhile),
    sent SIGTERM (its group too if it leads one), SIGKILL ``grace_period`` s later.
    """
    marker = f"SIMBA_RUN_DIR={run_dir}".encode()
    held: dict[int, Leftover] = {}
    for pid in other_processes(marked=marker.decode()):
        fd = open_pidfd(pid)
        proc = Path(f"/proc/{pid}")
        try:  # read after the pidfd is open: the same process as the scan found, or none
            if fd is not None and _has(proc / "environ", marker):
                command = (proc / "cmdline").read_bytes().strip(b"\0").replace(b"\0", b" ")
                held[fd] = Leftover(pid, command.decode("utf-8", "replace")[:80])
                continue
        except OSError:
            pass
        if fd is not None:
            os.close(fd)
    own_group = os.getpgrp()
    try:
        for signum, wait in ((signal.SIGTERM, grace_period), (signal.SIGKILL, 1.0)):
            poller = select.poll()
            for fd, leftover in held.items():
                with contextlib.suppress(OSError):
                    if os.getpgid(leftover.pid) == leftover.pid != own_group:
                        signal_group(leftover.pid, signum)
                    signal.pidfd_send_signal(fd, signum)
                poller.register(fd, select.POLLIN)
            waiting, deadline = len(held), time.monotonic() + wait
            while waiting and (left := deadline - time.monotonic()) > 0:
                waiting -= len(ended := poller.poll(int(left * 1000) + 1))
                for fd, _ in ended:
                    poller.unregister(fd)
    finally:
        for fd in held:
            os.close(fd)
    return list(held.values())


def kill_marked(name: str, value: str) -> int:
    """SIGKILL every other process on this machine whose environment has ``name=value``.

    Linux only (reads /proc).  Returns how many were found.
    """
    return _kill(other_processes(marked=f"{name}={value}"))


def kill_holding(directory: Path) -> int:
    """SIGKILL every other process on this machine that has a file open under ``directory``.

    This finds what Parsl started from a driver that was killed: the interchange (whose
    environment Parsl's process title hides) keeps its log there.  Linux only.
    """
    return _kill(other_processes(holding=directory))


def other_processes(*, marked: str | None = None, holding: Path | None = None) -> Iterator[int]:
    """The ids of the other processes on this machine whose environment has ``marked``
    (``NAME=value``), or that have a file open under the directory ``holding``.

    The one /proc scan of SIMBA; Linux only (elsewhere there are none).  Processes
    that end or cannot be read during the scan are left out.
    """
    proc = Path("/proc")
    if not proc.is_dir():  # pragma: no cover - not Linux
        return
    marker = None if marked is None else marked.encode()
    prefix = None if holding is None else f"{holding}{os.sep}"
    own = os.getpid()
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == own:
            continue
        try:
            found = (marker is not None and _has(entry / "environ", marker)) or (
                prefix is not None
                and any(
                    str(descriptor.readlink()).startswith(prefix)
                    for descriptor in (entry / "fd").iterdir()
                )
            )
        except OSError:
            continue
        if found:
            yield int(entry.name)


def group_alive(pgid: int) -> bool:
    """Whether process group ``pgid`` has a live member (zombies do not count: a leader
    that exited but is not reaped yet still holds the group id).  Linux only."""
    proc = Path("/proc")
    if not proc.is_dir():  # pragma: no cover - not Linux
        return False
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if len(fields) > 2 and fields[2] == str(pgid) and fields[0] not in ("Z", "X"):
            return True
    return False


def _has(environ: Path, marker: bytes) -> bool:
    return marker in environ.read_bytes().split(b"\0")


def _kill(pids: Iterable[int]) -> int:
    found = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
            found += 1
    return found


def describe_leftovers(leftovers: Iterable[str]) -> str:
    """The warning that names what :func:`stop_leftovers` stopped."""
    names = list(leftovers)
    return (
        f"{len(names)} process(es) started by the run's modules were still running when it "
        f"ended and were stopped: {', '.join(names)}; a module must stop the processes it "
        "starts before it returns"
    )


#: The guard's program (standard library only, so it starts in milliseconds): it waits
#: for end of file on its stdin, which comes when the driver has ended however it ended
#: (the kernel closes the driver's end of the pipe even after a SIGKILL), then SIGKILLs
#: every process marked with the run, scanning again until none is left.
_GUARD = """
import os, signal, sys
for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
    signal.signal(signum, signal.SIG_IGN)
while os.read(0, 4096):
    pass
marker, own = sys.argv[1].encode(), os.getpid()
for _ in range(20):
    found = 0
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == own:
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as handle:
                if marker not in handle.read().split(b"\\0"):
                    continue
            os.kill(int(name), signal.SIGKILL)
            found += 1
        except OSError:
            pass
    if not found:
        break
"""


class Guard:
    """A small process that stops a run's processes when the driver dies, even by SIGKILL.

    ``simba run --api`` starts one per run: a host SIGKILLs its module 5 s after
    SIGTERM, and a module process that ignores SIGTERM must not outlive SIMBA.  A
    ``PR_SET_PDEATHSIG`` in each module process would reach only the processes SIMBA
    started itself, not what they started (``sh -c``'s worker, a daemon); the guard
    finds them all by their ``SIMBA_RUN_DIR`` marker, as :func:`kill_leftovers` does.
    It runs in a session of its own (a signal to SIMBA's group leaves it alone), holds
    the read end of a pipe whose write end only SIMBA holds, and exits when it has
    done its work; a driver that ends normally leaves it nothing to find.
    """

    def __init__(self, run_dir: Path) -> None:
        import subprocess
        import sys

        read_fd, self._write_fd = os.pipe()  # both ends non-inheritable: no module gets them
        environment = {k: v for k, v in os.environ.items() if k != "SIMBA_RUN_DIR"}
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-I", "-c", _GUARD, f"SIMBA_RUN_DIR={run_dir}"],
                stdin=read_fd,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,  # holds none of the host's pipes open
                env=environment,
                start_new_session=True,
            )
        finally:
            os.close(read_fd)

    def close(self) -> None:
        """The driver is done with its run: let the guard sweep (nothing, normally) and end."""
        if self._write_fd >= 0:
            os.close(self._write_fd)
            self._write_fd = -1
            with contextlib.suppress(Exception):
                self.process.wait(5)
