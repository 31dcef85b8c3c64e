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

import json
import shlex
import sqlite3
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from simba.errors import RunDirectoryError
from simba.jsonfile import JSONFileError, read_json
from simba.record.liveness import Liveness, check_driver

META = ".simba"
DATABASE = "run.db"

State = Literal["starting", "running", "success", "failed", "interrupted", "stopped", "unknown"]
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


def database_path(directory: Path) -> Path:
    return directory / META / DATABASE


def open_database(path: Path) -> sqlite3.Connection:
    """A read-only connection to a run database (the driver may be writing it)."""
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
        connection.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
    except sqlite3.Error as exc:
        raise RunDirectoryError(f"cannot read the run database {path}: {exc}") from None
    return connection


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
    connection = open_database(path)
    try:
        return _from_database(directory, connection, now)
    except sqlite3.Error as exc:
        if "no such table" in str(exc):  # the driver is creating it right now
            return _from_files(directory)
        raise RunDirectoryError(f"cannot read the run database {path}: {exc}") from None
    finally:
        connection.close()


# -- the database ---------------------------------------------------------------------------


def _meta(connection: sqlite3.Connection) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    for key, value in connection.execute("SELECT key, value FROM meta"):
        try:
            meta[key] = json.loads(value)
        except ValueError:
            meta[key] = value
    return meta


def _from_database(directory: Path, connection: sqlite3.Connection, now: float) -> RunStatus:
    meta = _meta(connection)
    last = connection.execute(
        "SELECT driver, pid, host, ended_at, outcome, error FROM drivers "
        "ORDER BY driver DESC LIMIT 1"
    ).fetchone()
    liveness = check_driver(
        directory / META / "lock",
        pid=last[1] if last else None,
        host=last[2] if last else None,
    )
    state = _state(meta, last, liveness)
    done = connection.execute(
        "SELECT tick, time FROM state ORDER BY phase DESC, tick DESC, slot DESC LIMIT 1"
    ).fetchone()
    calls_done = connection.execute("SELECT count(*) FROM state").fetchone()[0]
    attempts = connection.execute("SELECT count(*) FROM attempts").fetchone()[0]
    planned = _int(meta.get("plannedCalls"))
    running = _running(connection, last[0], now) if last and liveness.alive else ()
    wall = _wall(connection, now)
    return RunStatus(
        directory=directory,
        source="database",
        state=state,
        run_id=_str(meta.get("runId")),
        initial_tick=_int(meta.get("initialTick")),
        final_tick=_int(meta.get("finalTick")),
        tick=done[0] if done else None,
        time=done[1] if done else None,
        calls_done=calls_done,
        planned_calls=planned,
        attempts=attempts,
        running=running,
        last_error=_last_error(connection, meta, last),
        eta_seconds=_eta(wall, calls_done, planned) if state == "running" else None,
        wall_seconds=wall,
        driver=Driver(
            number=last[0] if last else None,
            pid=liveness.pid if liveness.alive else (last[1] if last else None),
            host=last[2] if last else None,
            alive=liveness.alive,
            checked_by=liveness.method,
        ),
    )


def _state(meta: Mapping[str, Any], last: Any, liveness: Liveness) -> State:
    outcome = meta.get("outcome")
    if outcome in ("success", "failed", "interrupted"):
        return outcome  # type: ignore[no-any-return]
    if liveness.alive:
        return "running"
    if liveness.alive is None and last is not None and last[3] is None:
        return "unknown"
    if last is None:
        return "starting" if liveness.alive is None else "stopped"
    if last[4] in ("success", "failed", "interrupted"):
        return last[4]  # type: ignore[no-any-return]
    return "stopped"


def _running(connection: sqlite3.Connection, driver: int, now: float) -> tuple[RunningCall, ...]:
    rows = connection.execute(
        "SELECT module, mode, tick, attempt, started_at FROM attempts "
        "WHERE driver = ? AND ended_at IS NULL AND superseded = 0 ORDER BY started_at, id",
        (driver,),
    ).fetchall()
    return tuple(
        RunningCall(module=m, mode=mode, tick=t, attempt=a, seconds=max(0.0, now - s))
        for m, mode, t, a, s in rows
    )


def _wall(connection: sqlite3.Connection, now: float) -> float | None:
    """The wall time the run's drivers have worked so far (the gaps between them left out)."""
    rows = connection.execute("SELECT started_at, ended_at FROM drivers").fetchall()
    if not rows:
        return None
    ends = [end for _, end in rows if end is not None]
    latest = max([now, *ends]) if any(end is None for _, end in rows) else max(ends)
    total = 0.0
    for started, ended in rows:
        total += max(0.0, (ended if ended is not None else latest) - started)
    return total


def _eta(wall: float | None, done: int, planned: int | None) -> float | None:
    if wall is None or planned is None or done <= 0:
        return None
    return max(0.0, wall / done * (planned - done))


def _last_error(connection: sqlite3.Connection, meta: Mapping[str, Any], last: Any) -> str | None:
    if meta.get("error"):
        return str(meta["error"])
    if last is not None and last[5]:
        return str(last[5])
    row = connection.execute(
        "SELECT module, mode, tick, attempt, outcome, reason FROM attempts "
        "WHERE outcome IS NOT NULL AND outcome != 'success' ORDER BY ended_at DESC, id DESC "
        "LIMIT 1"
    ).fetchone()
    if row is None:
        return None
    module, mode, tick, attempt, outcome, reason = row
    return f"module {module!r} ({mode} at tick {tick}, attempt {attempt}): {reason or outcome}"


# -- a run from before the database ---------------------------------------------------------


def _from_files(directory: Path) -> RunStatus:
    """A run without ``run.db``: what ``summary.json`` or else ``checkpoint.json`` says."""
    meta = directory / META
    liveness = check_driver(meta / "lock")
    summary = _document(meta / "summary.json")
    checkpoint = _document(meta / "checkpoint.json")
    if liveness.alive:
        state: State = "running"
    elif summary.get("outcome") in ("success", "failed", "interrupted"):
        state = summary["outcome"]
    elif liveness.alive is None:
        state = "unknown"
    else:
        state = "stopped" if checkpoint else "starting"
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


def _document(path: Path) -> dict[str, Any]:
    try:
        document = read_json(path)
    except (OSError, JSONFileError):
        return {}
    return document if isinstance(document, dict) else {}


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None
