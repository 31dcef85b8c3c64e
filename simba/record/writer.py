"""The recorder: the observer that writes a run's events into ``.simba/run.db``.

The engine installs one :class:`Recorder` per driver (like the trace writer).  It
turns events into rows (:mod:`simba.record.schema`): an ``attempts`` row when an
attempt starts (``ended_at`` NULL while it runs), completed when it ends; a ``state``
row per successful call (:class:`~simba.events.CallMerged`); ``messages`` for module
lines and SIMBA's warnings; ``service_stats``; ``meta`` and ``drivers`` at the start
and the end.  Events reach it mostly while the next module runs (the engine's
look-ahead), so the writes are off the critical path.

Commits: a transaction stays open while events arrive and is committed by a
background thread every :data:`COMMIT_INTERVAL` seconds when something changed, so a
reader (``simba status``) sees the run at most that late; also before every checkpoint
(:meth:`Recorder.commit`, so the database never lags ``checkpoint.json``) and at the
end.  ``PRAGMA synchronous=NORMAL``: a power loss may lose the last transactions, but
``checkpoint.json`` and ``trace.jsonl`` stay the truth for resume, and a resumed run
puts the rows of the calls it takes over back (:class:`Reopening`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from simba.errors import CheckpointError
from simba.events import (
    CallFinished,
    CallStarted,
    Event,
    ModuleLine,
    RunFinished,
    RunStarted,
    RunWarning,
    ServiceStats,
    TickStarted,
)
from simba.record.rows import EarlierAttempt, MergedCall, ModuleRow, Reopening, RunIdentity
from simba.record.schema import SCHEMA_VERSION, TABLES

#: Seconds between two commits while a run goes on (what a live reader lags at most).
COMMIT_INTERVAL = 0.2
#: ``phase`` by mode: ``ORDER BY phase, tick, slot`` is plan order.
PHASES = {"start": 0, "step": 1, "end": 2}


class RecordError(CheckpointError):
    """The run database cannot be opened or is not one SIMBA wrote (exit 2, as for a
    damaged checkpoint); the message says which file and what to do."""


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
            raise sqlite3.DatabaseError(check)
        connection.executescript(TABLES)
    except sqlite3.Error as exc:
        raise RecordError(
            f"the run database {path} is damaged ({exc}); move it aside (the resumed run "
            "then starts a new one, without the rows of the calls before the checkpoint) "
            "or restore it from a backup, and run again"
        ) from None
    return connection


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


class Recorder:
    """An observer that writes every event of one driver into the run database."""

    def __init__(
        self,
        path: Path,
        *,
        identity: RunIdentity,
        modules: Sequence[ModuleRow],
        reopening: Reopening | None = None,
    ) -> None:
        self.path = path
        self.host = socket.gethostname()
        self._db = db = open_database(path)
        self._lock = threading.Lock()
        self._dirty = False
        self._attempts: dict[tuple[str, str, int, int], int] = {}
        self._tick_time: tuple[int, str] | None = None
        self._earlier: dict[tuple[str, str, int], list[EarlierAttempt]] = {}
        started = time.time()
        with db:
            previous = db.execute("SELECT max(driver), max(started_at) FROM drivers").fetchone()
            self.driver = (previous[0] or 0) + 1
            self._previous = (previous[0], previous[1])
            db.execute(
                "INSERT INTO drivers (driver, pid, host, command_line, started_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (self.driver, _pid(), self.host, _json(list(identity.command_line)), started),
            )
            self._meta(
                scenario=identity.scenario,
                fingerprint=identity.fingerprint,
                simbaVersion=identity.simba_version,
                schemaVersion=SCHEMA_VERSION,
                layout="tick",
                endedAt=None,
                outcome=None,
                error=None,
            )
            if identity.cell_id is not None:
                self._meta(cellId=identity.cell_id)
            if not _has_meta(db, "runId"):  # a resumed sweep cell knows only its directory
                self._meta(runId=identity.run_id)
            if self.driver == 1 or not _has_meta(db, "startedAt"):
                self._meta(startedAt=started)
            db.executemany(
                "INSERT OR REPLACE INTO modules VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (m.module, m.idx, m.type, m.priority, _json(list(m.depends_on)), int(m.trusted))
                    for m in modules
                ],
            )
            if reopening is not None:
                self._reconcile(reopening)
        self._closed = threading.Event()
        self._committer = threading.Thread(
            target=self._commit_now_and_then, name="simba-record", daemon=True
        )
        self._committer.start()

    # -- events ---------------------------------------------------------------------------

    def __call__(self, event: Event) -> None:
        handler = _HANDLERS.get(type(event))
        if handler is not None:
            with self._lock:
                handler(self, event)
                self._dirty = True

    def _run_started(self, event: RunStarted) -> None:
        self._meta(
            initialTick=event.initial_tick,
            finalTick=event.final_tick,
            initialTime=event.initial_time.isoformat(),
            finalTime=event.final_time.isoformat(),
            plannedCalls=event.call_count,
        )

    def _tick_started(self, event: TickStarted) -> None:
        self._tick_time = (event.tick, event.time.isoformat())

    def _call_started(self, event: CallStarted) -> None:
        cursor = self._db.execute(
            "INSERT INTO attempts (driver, module, mode, phase, tick, target_tick, slot,"
            " attempt, runner, started_at, host) VALUES (?, ?, ?, ?, ?, ?, ?, ?,"
            " (SELECT type FROM modules WHERE module = ?), ?, ?)",
            (
                self.driver,
                event.module,
                event.mode,
                PHASES[event.mode],
                event.tick,
                event.target_tick,
                event.slot,
                event.attempt,
                event.module,
                event.at,
                self.host,
            ),
        )
        assert cursor.lastrowid is not None
        self._attempts[(event.module, event.mode, event.tick, event.attempt)] = cursor.lastrowid

    def _call_finished(self, event: CallFinished) -> None:
        row = self._attempts.pop((event.module, event.mode, event.tick, event.attempt), None)
        if row is None:  # no CallStarted seen (an observer may be installed late): one now
            self._call_started(
                CallStarted(
                    module=event.module,
                    mode=event.mode,
                    tick=event.tick,
                    attempt=event.attempt,
                    target_tick=event.target_tick,
                    slot=event.slot,
                    at=event.ended_at - event.wall_time,
                )
            )
            row = self._attempts.pop((event.module, event.mode, event.tick, event.attempt))
        usage, placement = event.usage, event.placement
        self._db.execute(
            "UPDATE attempts SET ended_at = ?, wall_time = ?, user_cpu = ?, system_cpu = ?,"
            " max_rss_kb = ?, exit_code = ?, signal = ?, outcome = ?, reason = ?,"
            " host = coalesce(?, host), status_sha256 = ?, executor = ?, block_id = ?,"
            " job_id = ? WHERE id = ?",
            (
                event.ended_at or time.time(),
                event.wall_time,
                None if usage is None else usage.user_cpu,
                None if usage is None else usage.system_cpu,
                None if usage is None else usage.max_rss_kb,
                event.exit_code,
                event.signal,
                event.outcome,
                event.reason,
                None if placement is None else placement.host,
                _sha256(event.status_file),
                None if placement is None else placement.executor,
                None if placement is None else placement.block_id,
                None if placement is None else placement.job_id,
                row,
            ),
        )

    def merged(self, event: MergedCall) -> None:
        """Record a successful call's effect on the state (in event order: the engine
        calls this through its look-ahead, like an event)."""
        with self._lock:
            self._dirty = True
            self._merged(event)

    def _merged(self, event: MergedCall) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO state VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                PHASES[event.mode],
                event.tick,
                event.slot,
                event.module,
                event.mode,
                event.target_tick,
                event.time.isoformat(),
                _json(event.common_data),
                _json(event.module_data),
            ),
        )
        if event.replayed:
            self._restore_attempts(event)

    def _module_line(self, event: ModuleLine) -> None:
        self._message(event.level, event.module, event.tick, event.text)

    def _run_warning(self, event: RunWarning) -> None:
        self._message("WARNING", event.module, event.tick, event.message)

    def _service_stats(self, event: ServiceStats) -> None:
        self._db.execute(
            "INSERT INTO service_stats (module, at, jobs_completed) VALUES (?, ?, ?)",
            (event.module, time.time(), event.jobs_completed),
        )

    def _run_finished(self, event: RunFinished) -> None:
        ended = time.time()
        self._meta(endedAt=ended, outcome=event.outcome, error=event.error)
        self._db.execute(
            "UPDATE drivers SET ended_at = ?, outcome = ?, error = ? WHERE driver = ?",
            (ended, event.outcome, event.error, self.driver),
        )
        self._db.commit()

    # -- commits and the end -------------------------------------------------------------

    def commit(self) -> None:
        """Make everything recorded so far visible (and durable as far as WAL goes)."""
        with self._lock:
            self._db.commit()
            self._dirty = False

    def close(self) -> None:
        """Commit and close (the database stays readable)."""
        self._closed.set()
        self._committer.join()
        with self._lock:
            with contextlib.suppress(sqlite3.Error):
                self._db.commit()
            self._db.close()

    def _commit_now_and_then(self) -> None:
        while not self._closed.wait(COMMIT_INTERVAL):
            if self._dirty:
                with contextlib.suppress(sqlite3.Error), self._lock:
                    self._db.commit()
                    self._dirty = False

    # -- rows -------------------------------------------------------------------------------

    def _meta(self, **values: object) -> None:
        self._db.executemany(
            "INSERT OR REPLACE INTO meta VALUES (?, ?)",
            [(key, _json(value)) for key, value in values.items()],
        )

    def _message(self, level: str, module: str | None, tick: int | None, text: str) -> None:
        at = self._tick_time
        when = at[1] if at is not None and tick is not None and at[0] == tick else None
        self._db.execute(
            "INSERT INTO messages (driver, at, level, module, tick, time, text)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (self.driver, time.time(), level, module, tick, when, text),
        )

    def _reconcile(self, reopening: Reopening) -> None:
        """Drop the rows of the calls this driver runs again (see :class:`Reopening`)."""
        db, (phase, tick), keep = self._db, reopening.position, reopening.taken_over
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
            [(row[0],) for row in rows if not keep(row[1], row[2], row[3])],
        )
        for attempt in reopening.earlier:
            key = (attempt.module, attempt.mode, attempt.tick)
            self._earlier.setdefault(key, []).append(attempt)

    def _restore_attempts(self, event: MergedCall) -> None:
        """The earlier attempts of a replayed call the database missed (the trace has them)."""
        for attempt in self._earlier.pop((event.module, event.mode, event.tick), ()):
            found = self._db.execute(
                "SELECT id, ended_at FROM attempts WHERE module = ? AND mode = ? AND tick = ?"
                " AND attempt = ? AND superseded = 0 AND driver < ? ORDER BY driver DESC",
                (event.module, event.mode, event.tick, attempt.attempt, self.driver),
            ).fetchone()
            if found is not None and found[1] is not None:
                continue
            driver, driver_start = self._previous
            started = (driver_start or 0.0) + attempt.started_at
            values = (
                started + attempt.wall_time,
                attempt.wall_time,
                attempt.exit_code,
                attempt.outcome,
                attempt.reason,
            )
            if found is not None:
                self._db.execute(
                    "UPDATE attempts SET ended_at = ?, wall_time = ?, exit_code = ?, outcome = ?,"
                    " reason = ? WHERE id = ?",
                    (*values, found[0]),
                )
                continue
            self._db.execute(
                "INSERT INTO attempts (driver, module, mode, phase, tick, target_tick, slot,"
                " attempt, runner, started_at, host, ended_at, wall_time, exit_code, outcome,"
                " reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, (SELECT type FROM modules WHERE"
                " module = ?), ?, ?, ?, ?, ?, ?, ?)",
                (
                    driver or self.driver,
                    event.module,
                    event.mode,
                    PHASES[event.mode],
                    event.tick,
                    event.target_tick,
                    event.slot,
                    attempt.attempt,
                    event.module,
                    started,
                    self.host,
                    *values,
                ),
            )


_HANDLERS: Mapping[type, Callable[[Recorder, Any], None]] = {
    RunStarted: Recorder._run_started,
    TickStarted: Recorder._tick_started,
    CallStarted: Recorder._call_started,
    CallFinished: Recorder._call_finished,
    ModuleLine: Recorder._module_line,
    RunWarning: Recorder._run_warning,
    ServiceStats: Recorder._service_stats,
    RunFinished: Recorder._run_finished,
}


def _json(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _sha256(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def _has_meta(db: sqlite3.Connection, key: str) -> bool:
    return db.execute("SELECT 1 FROM meta WHERE key = ?", (key,)).fetchone() is not None


def _pid() -> int:
    import os

    return os.getpid()
