"""The recorder: the observer that writes a run's events into ``.simba/run.db``.

The engine installs one :class:`Recorder` per driver (like the trace writer).  It
turns events into rows (:mod:`simba.record.schema`): an ``attempts`` row when an
attempt starts (``ended_at`` NULL while it runs), completed when it ends; a ``state``
row per successful call (:meth:`Recorder.merged`); ``messages`` for module lines and
SIMBA's warnings; ``service_stats``; ``meta`` and ``drivers`` at the start and the end.

Handling an event only appends a row to a :class:`~simba.record.database.Pending`
batch (a row as its table takes it: the JSON encoding is done here, while a module
runs); a background thread writes and commits the batch every
:data:`COMMIT_INTERVAL` seconds when something changed, so a reader (``simba
status``) sees the run at most that late, and the SQL work stays off the
engine's thread.  :meth:`Recorder.commit` writes at once: before every checkpoint (so
the database never lags ``checkpoint.json``) and at the end.  ``PRAGMA
synchronous=NORMAL``: a power loss may lose the last transactions, but
``checkpoint.json`` and ``trace.jsonl`` stay the truth for resume, and a resumed run
puts back the rows of the calls it takes over (:class:`~simba.record.rows.Reopening`).
"""

from __future__ import annotations

import contextlib
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

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
from simba.record.database import (
    PHASES,
    Pending,
    RecordError,
    document_row,
    has_meta,
    open_database,
    reconcile,
    restore_attempts,
    state_row,
    to_json,
    write_error,
    write_meta,
    write_pending,
)
from simba.record.rows import (
    CallDocuments,
    EarlierAttempt,
    MergedCall,
    ModuleRow,
    Reopening,
    RunIdentity,
)
from simba.record.schema import SCHEMA_VERSION

__all__ = ["COMMIT_INTERVAL", "PHASES", "RecordError", "Recorder"]

#: Seconds between two commits while a run goes on (what a live reader lags at most)...
COMMIT_INTERVAL = 0.2
#: ... unless more than BUSY_ROWS rows came since the last commit: then a commit waits
#: until BUSY_INTERVAL seconds have passed.  A commit costs the run's calls (its thread
#: takes a CPU and the interpreter from them), which a run of thousands of short calls
#: a second feels.
BUSY_ROWS = 500
BUSY_INTERVAL = 1.0


class Recorder:
    """An observer that records every event of one driver in the run database."""

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
        self._db = open_database(path)
        self._lock = threading.Lock()
        """Guards the pending batch (events come from several threads)."""
        self._db_lock = threading.Lock()
        """Guards the connection: one write at a time, batches in order."""
        self._pending = Pending()
        self._committed_at = time.monotonic()
        self._failure: sqlite3.Error | None = None
        self._open: dict[tuple[str, str, int, int], tuple[int, list[Any]]] = {}
        self._tick_time: tuple[int, str] | None = None
        self._earlier: dict[tuple[str, str, int], list[EarlierAttempt]] = {}
        self._runners = {m.module: m.type for m in modules}
        try:
            self._begin(identity, modules, reopening)
        except sqlite3.Error as exc:  # the engine says it cannot go on writing
            self._db.close()
            raise write_error(path, exc) from None
        self._closed = threading.Event()
        self._committer = threading.Thread(
            target=self._commit_now_and_then, name="simba-record", daemon=True
        )
        self._committer.start()

    def _begin(
        self, identity: RunIdentity, modules: Sequence[ModuleRow], reopening: Reopening | None
    ) -> None:
        """This driver's row, the run's meta and modules, and a resume's reconciliation."""
        db, started = self._db, time.time()
        with db:
            previous = db.execute("SELECT max(driver), max(started_at) FROM drivers").fetchone()
            self.driver = (previous[0] or 0) + 1
            self._previous: tuple[int | None, float | None] = (previous[0], previous[1])
            self._next_id = (db.execute("SELECT max(id) FROM attempts").fetchone()[0] or 0) + 1
            db.execute(
                "INSERT INTO drivers (driver, pid, host, command_line, started_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (
                    self.driver,
                    os.getpid(),
                    self.host,
                    to_json(list(identity.command_line)),
                    started,
                ),
            )
            meta: dict[str, object] = {
                "scenario": identity.scenario,
                "fingerprint": identity.fingerprint,
                "simbaVersion": identity.simba_version,
                "schemaVersion": SCHEMA_VERSION,
                "layout": "tick",
                "endedAt": None,
                "outcome": None,
                "error": None,
            }
            if identity.cell_id is not None:
                meta["cellId"] = identity.cell_id
            if not has_meta(db, "runId"):  # a resumed sweep cell knows only its directory
                meta["runId"] = identity.run_id
            if not has_meta(db, "startedAt"):
                meta["startedAt"] = started
            write_meta(db, meta)
            db.executemany(
                "INSERT OR REPLACE INTO modules VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        m.module,
                        m.idx,
                        m.type,
                        m.priority,
                        to_json(list(m.depends_on)),
                        m.trusted,
                        m.image,
                    )
                    for m in modules
                ],
            )
            if reopening is not None:
                reconcile(db, reopening)
                for attempt in reopening.earlier:
                    key = (attempt.module, attempt.mode, attempt.tick)
                    self._earlier.setdefault(key, []).append(attempt)

    # -- events ---------------------------------------------------------------------------

    def __call__(self, event: Event) -> None:
        handler = _HANDLERS.get(type(event))
        if handler is not None:
            with self._lock:
                handler(self, event)
            if isinstance(event, RunFinished):  # a failure shows at close (or showed at the
                with contextlib.suppress(OSError):  # checkpoint written just before)
                    self.commit()

    def merged(self, row: MergedCall) -> None:
        """Record a successful call's effect on the state (the engine calls this through
        its look-ahead, in order with the events)."""
        state = state_row(row)  # here, not in the committer thread (see the module)
        with self._lock:
            self._pending.state.append(state)
        if row.replayed:
            earlier = self._earlier.pop((row.module, row.mode, row.tick), None)
            if earlier:
                self.commit(
                    lambda db: restore_attempts(
                        db,
                        row,
                        earlier,
                        driver=self.driver,
                        previous=self._previous,
                        host=self.host,
                        new_id=self._new_id,
                    )
                )

    def document(self, row: CallDocuments) -> None:
        """Record an attempt's documents (committed with the batch: a resumed run replays
        a call only if its row is there, see :mod:`simba.engine.start`)."""
        values = document_row(row)
        with self._lock:
            self._pending.documents.append(values)

    def _run_started(self, event: RunStarted) -> None:
        self._pending.meta.update(
            initialTick=event.initial_tick,
            finalTick=event.final_tick,
            initialTime=event.initial_time.isoformat(),
            finalTime=event.final_time.isoformat(),
            plannedCalls=event.call_count,
        )

    def _tick_started(self, event: TickStarted) -> None:
        self._tick_time = (event.tick, event.time.isoformat())

    def _new_id(self) -> int:
        ident, self._next_id = self._next_id, self._next_id + 1
        return ident

    def _call_started(self, event: CallStarted) -> None:
        ident = self._new_id()
        row: list[Any] = [
            ident,
            self.driver,
            event.module,
            event.mode,
            PHASES[event.mode],
            event.tick,
            event.target_tick,
            event.slot,
            event.attempt,
            self._runners.get(event.module, "local"),
            event.at or time.time(),
            *_UNFINISHED,
            self.host,
            None,
            None,
            None,
            None,
            0,
        ]
        self._open[(event.module, event.mode, event.tick, event.attempt)] = (ident, row)
        self._pending.attempts.append(row)
        self._pending.waiting.add(ident)

    def _call_finished(self, event: CallFinished) -> None:
        key = (event.module, event.mode, event.tick, event.attempt)
        if key not in self._open:  # no CallStarted seen (an observer installed late)
            self._call_started(_started(event))
        ident, row = self._open.pop(key)
        usage, placement = event.usage, event.placement
        end = (
            event.ended_at or time.time(),
            event.wall_time,
            None if usage is None else usage.user_cpu,
            None if usage is None else usage.system_cpu,
            None if usage is None else usage.max_rss_kb,
            event.exit_code,
            event.signal,
            event.outcome,
            event.reason,
            (placement and placement.host) or self.host,
            event.status_sha256,
            None if placement is None else placement.executor,
            None if placement is None else placement.block_id,
            None if placement is None else placement.job_id,
        )
        if ident in self._pending.waiting:
            row[11:25] = end
        else:
            self._pending.finished.append((*end, ident))

    def _module_line(self, event: ModuleLine) -> None:
        self._message(event.level, event.module, event.tick, event.text)

    def _run_warning(self, event: RunWarning) -> None:
        self._message("WARNING", event.module, event.tick, event.message)

    def _service_stats(self, event: ServiceStats) -> None:
        self._pending.stats.append((event.module, time.time(), event.jobs_completed))

    def _run_finished(self, event: RunFinished) -> None:
        ended = time.time()
        self._pending.meta.update(endedAt=ended, outcome=event.outcome, error=event.error)
        self._pending.driver_end = (ended, event.outcome, event.error, self.driver)

    def _message(self, level: str, module: str | None, tick: int | None, text: str) -> None:
        at = self._tick_time
        when = at[1] if at is not None and tick is not None and at[0] == tick else None
        self._pending.messages.append((self.driver, time.time(), level, module, tick, when, text))

    # -- writes and commits ---------------------------------------------------------------

    def commit(self, then: Callable[[sqlite3.Connection], None] | None = None) -> None:
        """Write and commit everything recorded so far (and ``then`` in the same
        transaction): visible to readers, and as durable as WAL makes it.

        A write that fails (a full disk) raises :class:`OSError` here, also one that
        failed in the committer thread: the run cannot keep its record.
        """
        with self._db_lock:
            failure, self._failure = self._failure, None
            if failure is None:
                try:
                    self._write(then)
                except sqlite3.Error as exc:
                    failure = exc
            if failure is not None:
                raise write_error(self.path, failure)

    def _write(self, then: Callable[[sqlite3.Connection], None] | None) -> None:
        with self._lock:
            pending, self._pending = self._pending, Pending()
        try:
            if pending:
                write_pending(self._db, pending)
            if then is not None:
                then(self._db)
            self._db.commit()
            self._committed_at = time.monotonic()
        except sqlite3.Error:
            self._db.rollback()
            raise

    def close(self) -> None:
        """Commit and close (the database stays readable)."""
        self._closed.set()
        self._committer.join()
        try:
            self.commit()
        finally:
            self._db.close()

    def _commit_now_and_then(self) -> None:
        while not self._closed.wait(COMMIT_INTERVAL):
            since = time.monotonic() - self._committed_at  # by this thread or a checkpoint
            busy = self._pending.rows() > BUSY_ROWS and since < BUSY_INTERVAL
            if self._pending and not busy:
                with self._db_lock:
                    if self._failure is None:
                        try:
                            self._write(None)
                        except sqlite3.Error as exc:  # raised by the next commit()
                            self._failure = exc


_UNFINISHED = (None,) * 9  # ended_at .. reason, before host


def _started(event: CallFinished) -> CallStarted:
    return CallStarted(
        module=event.module,
        mode=event.mode,
        tick=event.tick,
        attempt=event.attempt,
        target_tick=event.target_tick,
        slot=event.slot,
        at=event.ended_at - event.wall_time,
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
