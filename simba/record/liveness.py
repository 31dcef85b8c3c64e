"""Whether the driver of a run (or a sweep) is alive, seen from outside without touching it.

A driver holds an exclusive ``flock`` on its directory's lock file (``.simba/lock`` of
a run, ``.sweep/lock`` of a sweep) for as long as it works there, and the kernel drops
that lock the moment the process ends, however it ends (SIGKILL included).  So the
question "is the driver alive" is answered by "is the lock held", which a recorded pid
cannot answer by itself: a pid is reused by the next process that happens to get it.

The lock is never *taken* to find out, not even for a moment (a driver starting at that
moment would be refused as "in use"): on Linux, ``/proc/locks`` lists every lock with
its holder's pid and the device and inode of the locked file, which is read instead.
Where ``/proc/locks`` cannot be read (not Linux), a recorded pid is checked with
``kill(pid, 0)`` on its own host, which can be wrong after pid reuse; and a driver on
another host (a sweep cell run through Parsl, a run directory on a shared file system)
cannot be checked from here at all: the answer is then "unknown" (``None``).
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

PROC_LOCKS = Path("/proc/locks")

#: How the answer was found: the lock (reliable), a pid (can be fooled by pid reuse),
#: or not at all.
Method = Literal["lock", "pid", "none"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Liveness:
    """Whether a driver is alive: ``alive`` is ``None`` when it cannot be known from here."""

    alive: bool | None
    pid: int | None
    """The pid holding the lock (or the recorded one, for ``method == "pid"``)."""
    method: Method


def this_host() -> str:
    return socket.gethostname()


def lock_holder(lock_file: Path, locks: Path = PROC_LOCKS) -> int | Literal[False] | None:
    """The pid holding a ``flock`` on ``lock_file``; ``None`` if nobody; ``False`` if unknowable.

    Unknowable: ``/proc/locks`` cannot be read.  A missing lock file is held by nobody.
    """
    try:
        table = locks.read_text(encoding="ascii", errors="replace")
    except OSError:
        return False
    try:
        info = lock_file.stat()
    except OSError:
        return None
    wanted = (os.major(info.st_dev), os.minor(info.st_dev), info.st_ino)
    for line in table.splitlines():
        fields = line.split()
        if len(fields) < 6 or fields[1] == "->" or fields[1] != "FLOCK":
            continue  # a waiter (->), or a POSIX/OFD lock: a driver holds a flock
        try:
            major, minor, inode = fields[5].split(":")
            where = (int(major, 16), int(minor, 16), int(inode))
            pid = int(fields[4])
        except ValueError:
            continue
        if where == wanted and pid > 0:
            return pid
    return None


def check_driver(
    lock_file: Path, *, pid: int | None = None, host: str | None = None, locks: Path = PROC_LOCKS
) -> Liveness:
    """Whether the driver that works in the directory of ``lock_file`` is alive.

    ``pid`` and ``host`` are what the record says about the latest driver, if anything:
    a driver on another host cannot be seen from here (unless it holds the lock after
    all, through a file system both machines share).
    """
    holder = lock_holder(lock_file, locks)
    if holder:
        return Liveness(alive=True, pid=holder, method="lock")
    elsewhere = host is not None and host != this_host()
    if elsewhere:
        return Liveness(alive=None, pid=pid, method="none")
    if holder is None:
        return Liveness(alive=False, pid=None, method="lock")
    if pid is None:
        return Liveness(alive=None, pid=None, method="none")
    return Liveness(alive=_pid_alive(pid), pid=pid, method="pid")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone's process: perhaps not ours, but alive
    return True
