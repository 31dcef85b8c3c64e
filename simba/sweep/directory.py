"""A sweep's directory: its layout, its lock, and the cells an earlier driver left running.

::

    <outputDirectory>/<runId>/
        sweep-summary.json
        .sweep/sweep.json       what this sweep is (to refuse a changed one on --resume)
        .sweep/lock             held (flock) by the one ``simba sweep`` working here
        .sweep/<cellId>.log     the cell process's output, appended to by every attempt
        .sweep/parsl/           Parsl's files, with --parsl
        <cellId>/               the cell's run directory

One driver at a time: a second ``simba sweep`` on the same directory is refused
(exit 2) while the first holds the lock.  Every cell process carries
``SIMBA_SWEEP_DIR=<the sweep's directory>`` in its environment (and so do its modules,
which inherit it), so that a driver killed with SIGKILL, which cannot stop its cells,
is cleaned up after by the next one: ``--resume`` and ``--overwrite`` stop such
leftover processes on this machine before they touch the directory.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path

from simba.engine.rundir import make_way
from simba.errors import RunDirectoryError
from simba.jsonfile import JSONFileError, read_json, write_json
from simba.leftovers import other_processes

#: The directory of a sweep's own files, beside the cells.
SWEEP_META = ".sweep"
SUMMARY_FILE = "sweep-summary.json"
#: Names in the sweep's directory that no cell may take (compared case-insensitively).
RESERVED_NAMES = (SUMMARY_FILE, SWEEP_META)
#: The environment variable that marks a sweep's cell processes and their modules.
MARKER = "SIMBA_SWEEP_DIR"
#: How long to wait for leftover cell processes to go after SIGKILL.
_STOP_WAIT = 10.0


class SweepDirectory:
    """The paths of one sweep's directory, and the lock its driver holds while it works."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.meta = root / SWEEP_META
        self.identity = self.meta / "sweep.json"
        self.lock_file = self.meta / "lock"
        self.summary = root / SUMMARY_FILE
        self._lock_fd: int | None = None

    def log(self, cell_id: str) -> Path:
        return self.meta / f"{cell_id}.log"

    @property
    def marker(self) -> dict[str, str]:
        """The environment entry every cell process of this sweep gets."""
        return {MARKER: str(self.root)}

    # -- opening -----------------------------------------------------------------------------

    def create(self, *, overwrite: bool) -> None:
        """Make a new sweep directory and lock it; an earlier one only goes with ``overwrite``.

        The directory is built under a temporary name, locked, and renamed into place,
        so that it never exists unlocked: of two sweeps started at once, one goes on.
        """
        self._make_way(overwrite)
        building = self.root.with_name(f".{self.root.name}.creating-{os.getpid()}")
        try:
            (building / SWEEP_META).mkdir(parents=True)
            self._lock(building / SWEEP_META / self.lock_file.name)
            building.rename(self.root)
        except OSError as exc:
            self.unlock()
            shutil.rmtree(building, ignore_errors=True)
            if self.root.exists():
                raise RunDirectoryError(
                    f"the sweep directory {self.root} was just created by another process; "
                    "choose another runId (--run-id)"
                ) from exc
            raise RunDirectoryError(
                f"cannot create the sweep directory {self.root}: {exc.strerror}; "
                "check outputDirectory and its permissions"
            ) from exc

    def _make_way(self, overwrite: bool) -> None:
        """Move an earlier sweep out of the way (``overwrite``), or say why not.

        The rules are a run directory's (:func:`~simba.engine.rundir.make_way`): only a
        directory with ``.sweep/`` that no driver holds is deleted.  Its leftover
        processes are stopped first, and it is renamed away before it is deleted, so that
        a sweep started at the same moment sees it whole or not at all.
        """
        make_way(
            self.root,
            marker=self.meta,
            kind="sweep",
            overwrite=overwrite,
            hold=self._held,
            remove=self._remove,
        )

    @contextlib.contextmanager
    def _held(self) -> Iterator[None]:
        self.lock()  # refuses while another sweep works here
        try:
            yield
        finally:
            self.unlock()

    def _remove(self, root: Path) -> None:
        doomed = root.with_name(f".{root.name}.deleting-{os.getpid()}")
        try:
            self.stop_leftovers()  # before deleting what they write into
            root.rename(doomed)
        except OSError as exc:
            raise RunDirectoryError(
                f"cannot replace the sweep directory {root}: {exc.strerror}"
            ) from exc
        shutil.rmtree(doomed, ignore_errors=True)

    def open_existing(self, fingerprint: str) -> None:
        """Lock an earlier sweep for ``--resume``: the same sweep, and nothing of it running."""
        if not self.identity.is_file():
            raise RunDirectoryError(
                f"cannot resume: {self.root} holds no sweep (no {self.identity})"
            )
        self.lock()
        try:
            earlier = read_json(self.identity)
        except (OSError, JSONFileError) as exc:
            self.unlock()
            raise RunDirectoryError(
                f"cannot resume {self.root}: {self.identity} cannot be read ({exc}); "
                "start a new sweep (--run-id), or --overwrite this one"
            ) from None
        if not isinstance(earlier, dict) or earlier.get("fingerprint") != fingerprint:
            self.unlock()
            raise RunDirectoryError(
                f"cannot resume {self.root}: the sweep file or its base scenario "
                "changed since it started; restore them, or start a new sweep (--run-id)"
            )
        self.stop_leftovers()

    def write_identity(self, source: Path, fingerprint: str) -> None:
        write_json(self.identity, {"sweep": str(source), "fingerprint": fingerprint})

    # -- the lock ----------------------------------------------------------------------------

    def lock(self) -> None:
        """Hold an exclusive lock on the sweep until :meth:`unlock` or exit; refuse if taken."""
        self._lock(self.lock_file)

    def _lock(self, path: Path) -> None:
        import fcntl

        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except FileNotFoundError:
            raise RunDirectoryError(
                f"the sweep directory {self.root} was just removed by another simba sweep "
                "(--overwrite); run again when it has started"
            ) from None
        except OSError as exc:
            raise RunDirectoryError(
                f"cannot lock the sweep directory {self.root}: {exc.strerror} ({path})"
            ) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            by = f" (process {holder})" if holder else ""
            raise RunDirectoryError(
                f"the sweep directory {self.root} is in use by another simba sweep{by}; "
                "wait for it to finish, or stop it first (then continue with --resume)"
            ) from None
        with contextlib.suppress(OSError):  # who holds it, for the message above
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._lock_fd = fd

    def unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    # -- leftovers ---------------------------------------------------------------------------

    def stop_leftovers(self) -> int:
        """SIGKILL the processes an earlier driver of this sweep left (cells, their modules).

        Scans again until none is found (a dying cell may start a module between two
        scans), then waits until every one has exited (its locks released); gives up
        after a few seconds.  Returns how many were killed.  Linux only: cells that ran
        on other machines (``--parsl``) are not reached.
        """
        marked = f"{MARKER}={self.root}"
        killed: set[int] = set()
        deadline = time.monotonic() + _STOP_WAIT
        while True:
            found = set(other_processes(marked=marked))
            for pid in found:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            killed |= found
            alive = [pid for pid in killed if not _exited(pid)]
            if not found and not alive:
                return len(killed)
            if time.monotonic() > deadline:
                raise RunDirectoryError(
                    f"cannot stop the processes an earlier simba sweep left running in "
                    f"{self.root} (pids {', '.join(map(str, sorted(alive or found)))}); "
                    "stop them, then run again"
                )
            time.sleep(0.02)


def _exited(pid: int) -> bool:
    """Whether ``pid`` has exited (a zombie has: its files, and so its locks, are closed)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[:1] in (["Z"], ["X"])


def _read_pid(fd: int) -> int | None:
    try:
        return int(os.pread(fd, 32, 0).decode().strip() or "0") or None
    except (OSError, ValueError):
        return None
