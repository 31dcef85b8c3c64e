"""A run's database (``.simba/run.db``) read into frozen records for the report.

Opened read-only (``mode=ro``), so a report can be made while the run writes the
database (WAL mode) and after its driver was killed.  The tables and columns are
:mod:`simba.record.schema`'s; nothing here writes.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sqlite3
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from simba.errors import RunDirectoryError

#: How a run stands: finished (``success``, ``failed``, ``interrupted``) or ``running``.
RunState = Literal["success", "failed", "interrupted", "running"]
DATABASE = Path(".simba") / "run.db"


@dataclass(frozen=True, slots=True, kw_only=True)
class Driver:
    """One ``simba run`` process of the run (the first, then one per ``--resume``)."""

    driver: int
    pid: int
    host: str
    command_line: tuple[str, ...]
    started_at: float
    ended_at: float | None
    outcome: str | None
    error: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ModuleRow:
    name: str
    idx: int
    type: str
    priority: int
    depends_on: tuple[str, ...]
    trusted: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class Attempt:
    """One attempt of one call, as the ``attempts`` table holds it."""

    driver: int
    module: str
    mode: str
    phase: int
    tick: int
    slot: int
    attempt: int
    started_at: float
    ended_at: float | None
    wall_time: float | None
    cpu: float | None
    """User plus system CPU seconds; ``None`` where unknown."""
    max_rss_kb: int | None
    exit_code: int | None
    signal: int | None
    outcome: str | None
    reason: str | None
    host: str
    superseded: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class StateRow:
    """What one call set: its commonData keys and its moduleData, at its simulated time."""

    phase: int
    tick: int
    module: str
    time: str
    common_data: Mapping[str, Any]
    module_data: Mapping[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    level: str
    module: str | None
    tick: int | None
    time: str | None
    text: str
    at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceStat:
    module: str
    at: float
    jobs_completed: int


@dataclass(frozen=True, slots=True, kw_only=True)
class RunRecord:
    """Everything the database of one run holds, and how the run stands now."""

    root: Path
    meta: Mapping[str, Any]
    """The ``meta`` table, each value decoded from its JSON text."""
    drivers: tuple[Driver, ...]
    modules: tuple[ModuleRow, ...]
    attempts: tuple[Attempt, ...]
    states: tuple[StateRow, ...]
    messages: tuple[Message, ...]
    service_stats: tuple[ServiceStat, ...]
    state: RunState
    driver_alive: bool


def read_run(root: Path) -> RunRecord:
    """Read the database of the run in ``root``; a clear error if there is none."""
    path = root / DATABASE
    if not path.is_file():
        what = "a SIMBA run directory" if (root / ".simba").is_dir() else "not a run directory"
        raise RunDirectoryError(
            f"{root} has no run database ({DATABASE}): it is {what} written by a SIMBA "
            "that records one; give the directory of a run (or of a sweep), e.g. "
            "runs/<runId>"
        )
    with _connect(path) as db:
        meta = {key: _decode(value) for key, value in db.execute("SELECT key, value FROM meta")}
        drivers = tuple(_drivers(db))
        record = RunRecord(
            root=root,
            meta=meta,
            drivers=drivers,
            modules=tuple(_modules(db)),
            attempts=tuple(_attempts(db)),
            states=tuple(_states(db)),
            messages=tuple(_messages(db)),
            service_stats=tuple(
                ServiceStat(module=m, at=at, jobs_completed=jobs)
                for m, at, jobs in db.execute(
                    "SELECT module, at, jobs_completed FROM service_stats ORDER BY at, id"
                )
            ),
            state="running",
            driver_alive=False,
        )
    alive = bool(drivers) and drivers[-1].ended_at is None and _alive(drivers[-1])
    return _with_state(record, alive)


@contextlib.contextmanager
def _connect(path: Path) -> Iterator[sqlite3.Connection]:
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    except sqlite3.Error as exc:
        raise RunDirectoryError(f"cannot open the run database {path}: {exc}") from exc
    try:
        yield db
    except sqlite3.DatabaseError as exc:
        raise RunDirectoryError(
            f"cannot read the run database {path}: {exc}; is it a SIMBA run database "
            "of this version?"
        ) from exc
    finally:
        db.close()


def _decode(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _drivers(db: sqlite3.Connection) -> Iterator[Driver]:
    query = (
        "SELECT driver, pid, host, command_line, started_at, ended_at, outcome, error "
        "FROM drivers ORDER BY driver"
    )
    for row in db.execute(query):
        command = _decode(row[3])
        yield Driver(
            driver=row[0],
            pid=row[1],
            host=row[2],
            command_line=tuple(str(part) for part in command)
            if isinstance(command, list)
            else (str(command),),
            started_at=row[4],
            ended_at=row[5],
            outcome=row[6],
            error=row[7],
        )


def _modules(db: sqlite3.Connection) -> Iterator[ModuleRow]:
    query = "SELECT module, idx, type, priority, depends_on, trusted FROM modules ORDER BY idx"
    for name, idx, kind, priority, depends_on, trusted in db.execute(query):
        needs = _decode(depends_on)
        yield ModuleRow(
            name=name,
            idx=idx,
            type=kind,
            priority=priority,
            depends_on=tuple(needs) if isinstance(needs, list) else (),
            trusted=bool(trusted),
        )


def _attempts(db: sqlite3.Connection) -> Iterator[Attempt]:
    query = (
        "SELECT driver, module, mode, phase, tick, slot, attempt, started_at, ended_at, "
        "wall_time, user_cpu, system_cpu, max_rss_kb, exit_code, signal, outcome, reason, "
        "host, superseded FROM attempts ORDER BY started_at, id"
    )
    for row in db.execute(query):
        user, system = row[10], row[11]
        yield Attempt(
            driver=row[0],
            module=row[1],
            mode=row[2],
            phase=row[3],
            tick=row[4],
            slot=row[5],
            attempt=row[6],
            started_at=row[7],
            ended_at=row[8],
            wall_time=row[9],
            cpu=None if user is None and system is None else (user or 0.0) + (system or 0.0),
            max_rss_kb=row[12],
            exit_code=row[13],
            signal=row[14],
            outcome=row[15],
            reason=row[16],
            host=row[17],
            superseded=bool(row[18]),
        )


def _states(db: sqlite3.Connection) -> Iterator[StateRow]:
    query = (
        "SELECT phase, tick, module, time, common_data, module_data FROM state "
        "ORDER BY phase, tick, slot"
    )
    for phase, tick, module, time, common, module_data in db.execute(query):
        common_value, module_value = _decode(common), _decode(module_data)
        yield StateRow(
            phase=phase,
            tick=tick,
            module=module,
            time=time,
            common_data=common_value if isinstance(common_value, dict) else {},
            module_data=module_value if isinstance(module_value, dict) else {},
        )


def _messages(db: sqlite3.Connection) -> Iterator[Message]:
    query = "SELECT level, module, tick, time, text, at FROM messages ORDER BY id"
    for level, module, tick, time, text, at in db.execute(query):
        yield Message(level=level, module=module, tick=tick, time=time, text=text, at=at)


def _alive(driver: Driver) -> bool:
    """Whether the driver process still runs (only knowable on its own host)."""
    if driver.host != socket.gethostname():
        return True  # another machine's driver: assume it runs until it records its end
    try:
        os.kill(driver.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _with_state(record: RunRecord, alive: bool) -> RunRecord:
    from dataclasses import replace

    last = record.drivers[-1] if record.drivers else None
    state: RunState
    if last is not None and last.ended_at is None:
        state = "running" if alive else "interrupted"
    else:
        outcome = (last.outcome if last else None) or record.meta.get("outcome")
        state = "interrupted"
        if outcome == "success":
            state = "success"
        elif outcome == "failed":
            state = "failed"
    return replace(record, state=state, driver_alive=alive)
