"""The run database's file and its writes: opening or creating ``.simba/run.db``, writing
a batch of recorded rows, and reconciling it with what a resumed run keeps.

The :class:`~simba.record.writer.Recorder` collects rows in a :class:`Pending` batch
(cheap, in the engine's thread) and hands it to :func:`write_pending` (in its
committer thread, or before a checkpoint), so SQL and JSON encoding stay off the path
between two calls.
"""

from __future__ import annotations

import errno
import json
import os
import resource
import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simba.errors import CheckpointError
from simba.record.rows import CallDocuments, EarlierAttempt, MergedCall, Reopening
from simba.record.schema import DOCUMENTS, TABLES

#: ``phase`` by mode: ``ORDER BY phase, tick, slot`` is plan order.
PHASES = {"start": 0, "step": 1, "end": 2}
#: The attempts columns a finished attempt sets, in :func:`write_pending`'s order.
FINISHED = (
    "ended_at, wall_time, user_cpu, system_cpu, max_rss_kb, exit_code, signal, outcome,"
    " reason, host, status_sha256, executor, block_id, job_id"
)
_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


class RecordError(CheckpointError):
    """The run database cannot be opened or is not one SIMBA wrote (exit 2, as for a
    damaged checkpoint); the message says which file and what to do."""


def to_json(value: object) -> str:
    """Compact JSON text (the empty object and null without the encoder)."""
    if value is None:
        return "null"
    if isinstance(value, Mapping) and not value:
        return "{}"
    return _encode(value)


@dataclass(slots=True)
class Pending:
    """Rows recorded since the last write, in the order they must be written."""

    attempts: list[list[Any]] = field(default_factory=list)
    """Whole ``attempts`` rows (table order); a row's end is filled in while it waits."""
    waiting: set[int] = field(default_factory=set)
    """The ids of the rows in ``attempts``."""
    finished: list[tuple[Any, ...]] = field(default_factory=list)
    """Ends of attempts written earlier: the :data:`FINISHED` values, then the id."""
    state: list[tuple[Any, ...]] = field(default_factory=list)
    """``state`` rows (:func:`state_row`)."""
    documents: list[tuple[Any, ...]] = field(default_factory=list)
    """``documents`` rows (:func:`document_row`): journal layout, inline calls."""
    messages: list[tuple[Any, ...]] = field(default_factory=list)
    stats: list[tuple[Any, ...]] = field(default_factory=list)
    meta: dict[str, object] = field(default_factory=dict)
    driver_end: tuple[Any, ...] | None = None
    """``(ended_at, outcome, error, driver)`` once the driver has finished."""

    def rows(self) -> int:
        """How many rows wait (roughly: meta and the driver's end not counted)."""
        return (
            len(self.attempts)
            + len(self.finished)
            + len(self.state)
            + len(self.documents)
            + len(self.messages)
            + len(self.stats)
        )

    def __bool__(self) -> bool:
        return bool(
            self.attempts or self.finished or self.state or self.documents or self.messages
        ) or bool(self.stats or self.meta or self.driver_end)


def write_pending(db: sqlite3.Connection, pending: Pending) -> None:
    """Write ``pending`` in the open transaction (the caller commits)."""
    if pending.attempts:
        marks = ", ".join("?" * len(pending.attempts[0]))
        db.executemany(f"INSERT INTO attempts VALUES ({marks})", pending.attempts)
    if pending.finished:
        columns = ", ".join(f"{name.strip()} = ?" for name in FINISHED.split(","))
        db.executemany(f"UPDATE attempts SET {columns} WHERE id = ?", pending.finished)
    if pending.state:
        db.executemany(
            "INSERT OR REPLACE INTO state VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            pending.state,
        )
    if pending.documents:
        db.execute(DOCUMENTS)  # made with the first one
        db.executemany(
            "INSERT OR REPLACE INTO documents VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            pending.documents,
        )
    if pending.messages:
        db.executemany(
            "INSERT INTO messages (driver, at, level, module, tick, time, text)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            pending.messages,
        )
    if pending.stats:
        db.executemany(
            "INSERT INTO service_stats (module, at, jobs_completed) VALUES (?, ?, ?)",
            pending.stats,
        )
    if pending.meta:
        write_meta(db, pending.meta)
    if pending.driver_end is not None:
        db.execute(
            "UPDATE drivers SET ended_at = ?, outcome = ?, error = ? WHERE driver = ?",
            pending.driver_end,
        )


def document_row(d: CallDocuments) -> tuple[Any, ...]:
    phase = PHASES[d.mode]
    return (
        d.module,
        d.mode,
        phase,
        d.tick,
        d.slot,
        d.attempt,
        d.config,
        d.status,
        d.stdout,
        d.stderr,
    )


def state_row(row: MergedCall) -> tuple[Any, ...]:
    return (
        PHASES[row.mode],
        row.tick,
        row.slot,
        row.module,
        row.mode,
        row.target_tick,
        row.time.isoformat(),
        to_json(row.common_data),
        to_json(row.module_data),
    )


def write_meta(db: sqlite3.Connection, values: Mapping[str, object]) -> None:
    db.executemany(
        "INSERT OR REPLACE INTO meta VALUES (?, ?)",
        [(key, to_json(value)) for key, value in values.items()],
    )


def has_meta(db: sqlite3.Connection, key: str) -> bool:
    return db.execute("SELECT 1 FROM meta WHERE key = ?", (key,)).fetchone() is not None


def open_database(path: Path) -> sqlite3.Connection:
    """``path`` opened for writing (created with the schema if new); :class:`RecordError`
    if it is no SQLite database or is damaged."""
    try:
        if not path.exists():
            _create(path)
        connection = sqlite3.connect(path, check_same_thread=False)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        (check,) = connection.execute("PRAGMA quick_check").fetchone()
        if check != "ok":
            raise RecordError(damaged(path, check))
        connection.executescript(TABLES)
    except sqlite3.Error as exc:
        if getattr(exc, "sqlite_errorcode", 0) & 0xFF not in _DAMAGED:  # I/O, full, denied
            raise write_error(path, exc) from None
        raise RecordError(damaged(path, str(exc))) from None
    return connection


#: SQLite's primary result codes for a file that is no (intact) database.
_DAMAGED = (11, 26)  # SQLITE_CORRUPT, SQLITE_NOTADB
#: SQLite's primary result codes for a full disk and for an I/O error.
_FULL, _IOERR = 13, 10


def write_error(path: Path, exc: sqlite3.Error) -> OSError:
    """The :class:`OSError` of a write to the database that failed (the engine then says it
    cannot go on writing); a full disk is named as such, as SQLite often reports it as an
    I/O error."""
    code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
    if code == _FULL or (code == _IOERR and _no_space(path.parent)):
        return OSError(errno.ENOSPC, f"No space left on device (the run database {path}: {exc})")
    limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    if code == _IOERR and limit != resource.RLIM_INFINITY:
        return OSError(
            errno.EFBIG,
            f"File too large (the run database {path}: {exc}; the file-size limit is "
            f"{limit} bytes)",
        )
    return OSError(f"cannot write the run database {path} ({exc})")


def _no_space(directory: Path) -> bool:
    try:
        info = os.statvfs(directory)
    except OSError:
        return False
    return info.f_bavail * info.f_frsize < 65536


def damaged(path: Path, detail: str) -> str:
    return (
        f"the run database {path} is damaged ({detail}); move it aside (the resumed run "
        "then starts a new one, without the rows of the calls before the checkpoint) "
        "or restore it from a backup, and run again"
    )


def _create(path: Path) -> None:
    """A new database with every table, put in place at once: a reader that finds the
    file finds the tables."""
    fresh = path.with_name(f"{path.name}.new")
    fresh.unlink(missing_ok=True)
    connection = sqlite3.connect(fresh)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.executescript(TABLES)
        connection.commit()
    finally:
        connection.close()
    fresh.replace(path)


def reconcile(db: sqlite3.Connection, reopening: Reopening) -> None:
    """Drop the rows of the calls a resumed driver runs again (see :class:`Reopening`)."""
    (phase, tick), keep = reopening.position, reopening.taken_over
    later = "(phase > ? OR (phase = ? AND tick >= ?))"
    rows = db.execute(
        f"SELECT phase, tick, slot, module, mode FROM state WHERE {later}", (phase, phase, tick)
    ).fetchall()
    db.executemany(
        "DELETE FROM state WHERE phase = ? AND tick = ? AND slot = ?",
        [row[:3] for row in rows if not keep(row[3], row[4], row[1])],
    )
    rows = db.execute(
        f"SELECT id, module, mode, tick FROM attempts WHERE superseded = 0 AND {later}",
        (phase, phase, tick),
    ).fetchall()
    db.executemany(
        "UPDATE attempts SET superseded = 1 WHERE id = ?",
        [row[:1] for row in rows if not keep(row[1], row[2], row[3])],
    )


def restore_attempts(
    db: sqlite3.Connection,
    call: MergedCall,
    earlier: list[EarlierAttempt],
    *,
    driver: int,
    previous: tuple[int | None, float | None],
    host: str,
    new_id: Callable[[], int],
) -> None:
    """The attempts of a replayed ``call`` that the database missed (the trace has them):
    added, or completed if only their start was committed before the driver died."""
    for attempt in earlier:
        found = db.execute(
            "SELECT id, ended_at FROM attempts WHERE module = ? AND mode = ? AND tick = ?"
            " AND attempt = ? AND superseded = 0 AND driver < ? ORDER BY driver DESC",
            (call.module, call.mode, call.tick, attempt.attempt, driver),
        ).fetchone()
        if found is not None and found[1] is not None:
            continue
        previous_driver, driver_start = previous
        started = (driver_start or 0.0) + attempt.started_at
        end = (
            started + attempt.wall_time,
            attempt.wall_time,
            attempt.exit_code,
            attempt.outcome,
            attempt.reason,
        )
        if found is not None:
            db.execute(
                "UPDATE attempts SET ended_at = ?, wall_time = ?, exit_code = ?, outcome = ?,"
                " reason = ? WHERE id = ?",
                (*end, found[0]),
            )
            continue
        db.execute(
            "INSERT INTO attempts (id, driver, module, mode, phase, tick, target_tick, slot,"
            " attempt, runner, started_at, host, ended_at, wall_time, exit_code, outcome,"
            " reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, (SELECT type FROM modules WHERE"
            " module = ?), ?, ?, ?, ?, ?, ?, ?)",
            (
                new_id(),
                previous_driver or driver,
                call.module,
                call.mode,
                PHASES[call.mode],
                call.tick,
                call.target_tick,
                call.slot,
                attempt.attempt,
                call.module,
                started,
                host,
                *end,
            ),
        )
