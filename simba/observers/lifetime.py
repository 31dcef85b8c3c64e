"""The lifetime ``jobsCompleted`` of SIMBA as a Station / Checker module (issue 14).

A host adds up the increases of the ``jobsCompleted`` its module reports and records a
decrease as a negative delta; it restarts a module with the same command after a crash,
a SIGKILL or a reboot.  So the count a ``simba run --api`` serves belongs to the module,
not to one run: :class:`LifetimeJobs` keeps, in one JSON file under the module's root,
the highest count each run directory has reached, and serves their sum.

Each run's count only grows (a resumed run starts from the calls its trace records,
and a call re-run after a SIGKILL is not counted twice: the stored count of that run is
a floor), so the sum never goes down, across restarts, SIGKILLs and run ids.  The file
is replaced atomically before the new count is shown, so nothing that ``GET /`` ever
said is lost by a SIGKILL.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from simba.errors import SimbaError
from simba.jsonfile import JSONFileError, read_json, write_json

#: The file's name, in the module's root.
FILE_NAME = "simba-jobs.json"


class LifetimeJobs:
    """The highest successful-call count of every run directory, persisted in ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._runs: dict[str, int] = _load(path)

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self._runs.values())

    def record(self, run: str, jobs: int) -> int:
        """``run`` has done ``jobs`` successful calls: persist a new high, return the total."""
        with self._lock:
            if jobs > self._runs.get(run, 0):
                self._runs[run] = jobs
                self.path.parent.mkdir(parents=True, exist_ok=True)
                write_json(self.path, {"format": 1, "runs": dict(self._runs)})
            return sum(self._runs.values())


def _load(path: Path) -> dict[str, int]:
    """The counts in ``path``; none if it does not exist (a damaged file is a SimbaError)."""
    if not path.exists():
        return {}
    try:
        document: Any = read_json(path)
    except (JSONFileError, OSError) as exc:
        raise SimbaError(f"cannot read {path}: {exc}; remove it to count from 0 again") from exc
    runs = document.get("runs") if isinstance(document, dict) else None
    if not isinstance(runs, dict) or not all(
        isinstance(key, str) and isinstance(value, int) and value >= 0
        for key, value in runs.items()
    ):
        raise SimbaError(
            f"{path} is not SIMBA's count of jobs completed; remove it to count from 0 again"
        )
    return dict(runs)
