"""Typed, read-only access to a run database (``.simba/run.db``) for status, export and reports.

:func:`open_record` opens it read-only (``mode=ro``: a reader never blocks or changes
the run that writes it) and gives a :class:`RunRecord` whose methods return frozen
rows: :meth:`~RunRecord.meta`, :meth:`~RunRecord.drivers`, :meth:`~RunRecord.modules`,
:meth:`~RunRecord.attempts`, :meth:`~RunRecord.state` (the state history in plan
order), :meth:`~RunRecord.messages` and :meth:`~RunRecord.service_stats`.  Each call
reads what the writer had committed at that moment (at most ``COMMIT_INTERVAL``
seconds behind a running driver, ``BUSY_INTERVAL`` while it records many rows).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from simba.errors import RunDirectoryError
from simba.record.rows import ModuleRow

#: Where the database lies in a run directory.
DATABASE = Path(".simba") / "run.db"

Module = ModuleRow
"""A row of ``modules``, as the recorder wrote it."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RunMeta:
    """The ``meta`` table, typed; ``None`` for what is not (yet) known."""

    run_id: str | None = None
    cell_id: str | None = None
    scenario: str | None = None
    fingerprint: str | None = None
    simba_version: str | None = None
    schema_version: int | None = None
    initial_tick: int | None = None
    final_tick: int | None = None
    initial_time: str | None = None
    final_time: str | None = None
    planned_calls: int | None = None
    started_at: float | None = None
    ended_at: float | None = None
    """``None`` while the run goes on, or if its last driver was killed."""
    outcome: str | None = None
    """``success``, ``failed`` or ``interrupted``; ``None`` as ``ended_at``."""
    error: str | None = None
    layout: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Driver:
    driver: int
    pid: int
    host: str
    command_line: tuple[str, ...]
    started_at: float
    ended_at: float | None
    outcome: str | None
    error: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Attempt:
    id: int
    driver: int
    module: str
    mode: str
    phase: int
    tick: int
    target_tick: int | None
    slot: int
    attempt: int
    runner: str
    started_at: float
    ended_at: float | None
    wall_time: float | None
    user_cpu: float | None
    system_cpu: float | None
    max_rss_kb: int | None
    exit_code: int | None
    signal: int | None
    outcome: str | None
    reason: str | None
    host: str
    status_sha256: str | None
    executor: str | None
    block_id: str | None
    job_id: str | None
    superseded: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class StateRow:
    """A successful call's effect: the commonData keys it set and the moduleData it returned."""

    phase: int
    tick: int
    slot: int
    module: str
    mode: str
    target_tick: int | None
    time: str
    common_data: Mapping[str, Any]
    module_data: Mapping[str, Any] | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    id: int
    driver: int
    at: float
    level: str
    module: str | None
    tick: int | None
    time: str | None
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceStat:
    id: int
    module: str
    at: float
    jobs_completed: int


_META_FIELDS = {
    "runId": "run_id",
    "cellId": "cell_id",
    "scenario": "scenario",
    "fingerprint": "fingerprint",
    "simbaVersion": "simba_version",
    "schemaVersion": "schema_version",
    "initialTick": "initial_tick",
    "finalTick": "final_tick",
    "initialTime": "initial_time",
    "finalTime": "final_time",
    "plannedCalls": "planned_calls",
    "startedAt": "started_at",
    "endedAt": "ended_at",
    "outcome": "outcome",
    "error": "error",
    "layout": "layout",
}


class RunRecord:
    """A run database opened read-only; use as a context manager, or :meth:`close` it."""

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self.path = path
        self._db = connection

    def __enter__(self) -> RunRecord:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    def meta(self) -> RunMeta:
        values = {
            _META_FIELDS[key]: json.loads(value)
            for key, value in self._db.execute("SELECT key, value FROM meta")
            if key in _META_FIELDS
        }
        return RunMeta(**values)

    def drivers(self) -> list[Driver]:
        rows = self._db.execute("SELECT * FROM drivers ORDER BY driver")
        return [
            Driver(**{**row, "command_line": tuple(json.loads(row["command_line"]))})
            for row in map(dict, rows)
        ]

    def modules(self) -> list[Module]:
        rows = self._db.execute("SELECT * FROM modules ORDER BY idx")
        return [
            Module(
                **{
                    **row,
                    "depends_on": tuple(json.loads(row["depends_on"])),
                    "trusted": bool(row["trusted"]),
                }
            )
            for row in map(dict, rows)
        ]

    def attempts(self, *, superseded: bool = True) -> list[Attempt]:
        """Every attempt in plan order, then by start (without superseded ones if asked)."""
        where = "" if superseded else " WHERE superseded = 0"
        rows = self._db.execute(
            f"SELECT * FROM attempts{where} ORDER BY phase, tick, slot, started_at, id"
        )
        return [
            Attempt(**{**row, "superseded": bool(row["superseded"])}) for row in map(dict, rows)
        ]

    def running(self) -> list[Attempt]:
        """The attempts of the last driver that have not ended (what runs now, if it lives)."""
        rows = self._db.execute(
            "SELECT * FROM attempts WHERE ended_at IS NULL AND superseded = 0"
            " AND driver = (SELECT max(driver) FROM drivers) ORDER BY started_at"
        )
        return [
            Attempt(**{**row, "superseded": bool(row["superseded"])}) for row in map(dict, rows)
        ]

    def state(self) -> Iterator[StateRow]:
        """The state history in plan order (a generator: long runs have many rows)."""
        rows = self._db.execute("SELECT * FROM state ORDER BY phase, tick, slot")
        for row in map(dict, rows):
            yield StateRow(
                **{
                    **row,
                    "common_data": json.loads(row["common_data"]),
                    "module_data": json.loads(row["module_data"]),
                }
            )

    def messages(self, *, levels: tuple[str, ...] = ("INFO", "ERROR", "WARNING")) -> list[Message]:
        marks = ", ".join("?" * len(levels))
        rows = self._db.execute(
            f"SELECT * FROM messages WHERE level IN ({marks}) ORDER BY id", levels
        )
        return [Message(**row) for row in map(dict, rows)]

    def service_stats(self) -> list[ServiceStat]:
        rows = self._db.execute("SELECT * FROM service_stats ORDER BY id")
        return [ServiceStat(**row) for row in map(dict, rows)]


def database_path(run_dir: Path) -> Path:
    """The run database of the run directory ``run_dir``."""
    return run_dir / DATABASE


def open_record(path: Path) -> RunRecord:
    """Open a run database (or the one of a run directory) read-only.

    Raises :class:`~simba.errors.RunDirectoryError` (exit 2) with what to do if there is
    none or it is not a SQLite database.
    """
    if path.is_dir():
        path = database_path(path)
    if not path.is_file():
        raise RunDirectoryError(
            f"{path} does not exist: this is no SIMBA run directory, or its run started "
            "before SIMBA kept a run database (resuming it creates one)"
        )
    try:
        uri = f"{path.resolve().as_uri()}?mode=ro"
        connection = sqlite3.connect(uri, uri=True, check_same_thread=False)
        connection.row_factory = sqlite3.Row
        connection.execute("SELECT count(*) FROM meta").fetchone()
    except sqlite3.Error as exc:
        raise RunDirectoryError(
            f"cannot read the run database {path} ({exc}); it is damaged or no SIMBA run database"
        ) from None
    return RunRecord(connection, path)
