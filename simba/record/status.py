"""The status of one run, read from its directory while it runs or after it ended.

:func:`run_status` reads ``.simba/run.db`` (read-only; the driver may be writing it)
and asks :mod:`simba.record.liveness` whether the driver still holds the run's lock.
A run directory made before the run database (no ``run.db``) is described from its
``summary.json`` or ``checkpoint.json`` instead, as far as they go.

The states: ``running`` (a driver holds the lock), ``success``, ``failed`` and
``interrupted`` (how the last driver ended, as it recorded), ``stopped`` (the driver
is gone without recording an end: killed, or its machine went down), ``unknown`` (a
driver on another host that cannot be checked from here), ``starting`` (nothing
recorded yet).
"""

from __future__ import annotations

import shlex
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from simba.errors import RunDirectoryError
from simba.jsonfile import read_object_or_empty
from simba.record.liveness import Liveness, check_driver
from simba.record.reader import RunMeta, RunRecord, database_path, open_record

META = ".simba"

State = Literal["starting", "running", "success", "failed", "interrupted", "stopped", "unknown"]
#: How long a new run directory with nothing recorded is taken as "starting".
STARTING_SECONDS = 10.0
#: The states after which ``simba run --resume`` continues the run.
RESUMABLE = ("failed", "interrupted", "stopped")


@dataclass(frozen=True, slots=True, kw_only=True)
class RunningCall:
    """A call whose attempt has started and not ended, as the database says."""

    module: str
    mode: str
    tick: int
    attempt: int
    seconds: float
    """How long it has been running."""

    def to_json(self) -> dict[str, Any]:
        return {
            "module": self.module,
            "mode": self.mode,
            "tick": self.tick,
            "attempt": self.attempt,
            "seconds": round(self.seconds, 3),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Driver:
    """The latest driver of a run and whether it is alive (``None``: cannot tell from here)."""

    number: int | None
    pid: int | None
    host: str | None
    alive: bool | None
    checked_by: str
    """``lock`` (reliable), ``pid`` (can be fooled by pid reuse) or ``none``."""

    def to_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "pid": self.pid,
            "host": self.host,
            "alive": self.alive,
            "checkedBy": self.checked_by,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class RunStatus:
    """What ``simba status`` says about one run directory."""

    directory: Path
    source: Literal["database", "files"]
    """Where it was read from: ``run.db``, or summary/checkpoint of an older run."""
    state: State
    run_id: str | None
    initial_tick: int | None
    final_tick: int | None
    tick: int | None
    """The tick of the latest finished call."""
    time: str | None
    """The simulated time of ``tick`` (ISO 8601)."""
    calls_done: int | None
    planned_calls: int | None
    attempts: int | None
    running: tuple[RunningCall, ...]
    last_error: str | None
    eta_seconds: float | None
    wall_seconds: float | None
    driver: Driver
    note: str | None = None

    @property
    def resume_command(self) -> str | None:
        """The exact command that continues this run, when it can be continued."""
        if self.state not in RESUMABLE:
            return None
        return f"simba run --resume {shlex.quote(str(self.directory))}"

    @property
    def finished(self) -> bool:
        """Whether nothing more will happen to this run without a new driver."""
        return self.state not in ("running", "starting", "unknown")

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": "run",
            "directory": str(self.directory),
            "source": self.source,
            "state": self.state,
            "runId": self.run_id,
            "initialTick": self.initial_tick,
            "finalTick": self.final_tick,
            "tick": self.tick,
            "time": self.time,
            "callsDone": self.calls_done,
            "plannedCalls": self.planned_calls,
            "attempts": self.attempts,
            "running": [call.to_json() for call in self.running],
            "lastError": self.last_error,
            "etaSeconds": None if self.eta_seconds is None else round(self.eta_seconds, 1),
            "wallSeconds": None if self.wall_seconds is None else round(self.wall_seconds, 3),
            "driver": self.driver.to_json(),
            "resumeCommand": self.resume_command,
            "note": self.note,
        }


def is_run_directory(directory: Path) -> bool:
    return (directory / META).is_dir()


def run_status(directory: Path, *, now: float | None = None) -> RunStatus:
    """The status of the run in ``directory``; a directory that is no run: RunDirectoryError."""
    if not is_run_directory(directory):
        raise RunDirectoryError(
            f"{directory} is not a SIMBA run directory (it has no {META}/); give the "
            "directory of a run (<outputDirectory>/<runId>) or of a sweep"
        )
    now = time.time() if now is None else now
    path = database_path(directory)
    if not path.is_file():
        return _from_files(directory)
    try:
        record = open_record(path)
    except RunDirectoryError:
        if check_driver(directory / META / "lock").alive:
            return _from_files(directory)  # its driver is making it right now
        raise
    try:
        with record:
            return _from_record(directory, record, _progress(path), now)
    except sqlite3.Error as exc:
        raise RunDirectoryError(f"cannot read the run database {path}: {exc}") from None


# -- the database ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class _Progress:
    calls_done: int
    attempts: int
    tick: int | None
    time: str | None
    failed_attempt: str | None
    """The latest failed attempt, described."""


def _progress(path: Path) -> _Progress:
    """Counts and the latest rows, by SQL: a look at a long run parses no whole history."""
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        done = connection.execute("SELECT count(*) FROM state").fetchone()[0]
        last = connection.execute(
            "SELECT tick, time FROM state ORDER BY phase DESC, tick DESC, slot DESC LIMIT 1"
        ).fetchone()
        attempts = connection.execute("SELECT count(*) FROM attempts").fetchone()[0]
        failed = connection.execute(
            "SELECT module, mode, tick, attempt, coalesce(reason, outcome) FROM attempts"
            " WHERE outcome IS NOT NULL AND outcome != 'success'"
            " ORDER BY ended_at DESC, id DESC LIMIT 1"
        ).fetchone()
    finally:
        connection.close()
    return _Progress(
        calls_done=done,
        attempts=attempts,
        tick=last[0] if last else None,
        time=last[1] if last else None,
        failed_attempt=None
        if failed is None
        else f"module {failed[0]!r} ({failed[1]} at tick {failed[2]}, attempt {failed[3]}): "
        + failed[4],
    )


def _from_record(directory: Path, record: RunRecord, progress: _Progress, now: float) -> RunStatus:
    meta = record.meta()
    drivers = record.drivers()
    last = drivers[-1] if drivers else None
    liveness = check_driver(
        directory / META / "lock",
        pid=last.pid if last else None,
        host=last.host if last else None,
    )
    state = _state(meta, last, liveness)
    running = record.running() if liveness.alive else []
    wall = _wall(drivers, now)
    return RunStatus(
        directory=directory,
        source="database",
        state=state,
        run_id=meta.run_id,
        initial_tick=meta.initial_tick,
        final_tick=meta.final_tick,
        tick=progress.tick,
        time=progress.time,
        calls_done=progress.calls_done,
        planned_calls=meta.planned_calls,
        attempts=progress.attempts,
        running=tuple(
            RunningCall(
                module=a.module,
                mode=a.mode,
                tick=a.tick,
                attempt=a.attempt,
                seconds=max(0.0, now - a.started_at),
            )
            for a in running
        ),
        last_error=meta.error or (last.error if last else None) or progress.failed_attempt,
        eta_seconds=_eta(wall, progress.calls_done, meta.planned_calls)
        if state == "running"
        else None,
        wall_seconds=wall,
        driver=Driver(
            number=last.driver if last else None,
            pid=liveness.pid if liveness.alive else (last.pid if last else None),
            host=last.host if last else None,
            alive=liveness.alive,
            checked_by=liveness.method,
        ),
    )


_ENDS = ("success", "failed", "interrupted")


def _state(meta: RunMeta, last: Any, liveness: Liveness) -> State:
    if meta.outcome in _ENDS:
        return meta.outcome  # type: ignore[return-value]
    if liveness.alive:
        return "running"
    if last is None:
        return "starting" if liveness.alive is None else "stopped"
    if liveness.alive is None and last.ended_at is None:
        return "unknown"
    if last.outcome in _ENDS:
        return last.outcome  # type: ignore[no-any-return]
    return "stopped"


def _wall(drivers: Sequence[Any], now: float) -> float | None:
    """The wall time the run's drivers have worked so far (the gaps between them left out);
    a driver killed without an end counts until the next one started (or now)."""
    if not drivers:
        return None
    total = 0.0
    for index, driver in enumerate(drivers):
        following = drivers[index + 1].started_at if index + 1 < len(drivers) else now
        ended = driver.ended_at if driver.ended_at is not None else following
        total += max(0.0, ended - driver.started_at)
    return total


def _eta(wall: float | None, done: int, planned: int | None) -> float | None:
    if wall is None or planned is None or done <= 0:
        return None
    return max(0.0, wall / done * (planned - done))


# -- a run from before the database ---------------------------------------------------------


def _from_files(directory: Path) -> RunStatus:
    """A run without ``run.db``: what ``summary.json`` or else ``checkpoint.json`` says."""
    meta = directory / META
    liveness = check_driver(meta / "lock")
    summary = read_object_or_empty(meta / "summary.json")
    checkpoint = read_object_or_empty(meta / "checkpoint.json")
    if liveness.alive:
        state: State = "running"
    elif summary.get("outcome") in ("success", "failed", "interrupted"):
        state = summary["outcome"]
    elif liveness.alive is None:
        state = "unknown"
    else:
        state = "stopped" if checkpoint or not _just_made(meta) else "starting"
    position = checkpoint.get("position")
    tick = _int(position.get("tick")) if isinstance(position, dict) else None
    note = (
        "this run has no run database (.simba/run.db): it was made by a SIMBA from before "
        "the database, or its driver stopped before making it; shown is what "
        + ("summary.json" if summary else "checkpoint.json" if checkpoint else "nothing")
        + " says"
    )
    return RunStatus(
        directory=directory,
        source="files",
        state=state,
        run_id=_str(summary.get("runId")),
        initial_tick=_int(summary.get("initialTick")),
        final_tick=_int(summary.get("finalTick")),
        tick=_int(summary.get("finalTick")) if summary else tick,
        time=None,
        calls_done=_int(summary.get("calls", checkpoint.get("callsDone"))),
        planned_calls=_int(summary.get("plannedCalls")),
        attempts=None,
        running=(),
        last_error=_str(summary.get("error")),
        eta_seconds=None,
        wall_seconds=_float(summary.get("wallTime")),
        driver=Driver(
            number=None,
            pid=liveness.pid,
            host=None,
            alive=liveness.alive,
            checked_by=liveness.method,
        ),
        note=note,
    )


def _just_made(meta: Path) -> bool:
    """Whether the run directory was made in the last few seconds (its driver may not have
    taken the lock yet); after that, a directory with nothing recorded and nobody holding
    its lock belongs to a driver that died before its first call."""
    info = meta / "run.json"
    try:
        made = (info if info.exists() else meta).stat().st_mtime
    except OSError:
        return False
    return time.time() - made < STARTING_SECONDS


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None
