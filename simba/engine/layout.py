"""Run layouts (DESIGN §7, §16): ``tick`` (a directory per tick) or ``journal``.

In the ``journal`` layout no call gets a directory of its own: each module works in
``modules/<name>/call/``, where its config, status and output files sit at fixed paths
and are overwritten per call (the config document still carries ``statusFile``), and
each attempt's config, status, stdout and stderr are recorded in the ``documents``
table of ``.simba/run.db`` instead.  The files of a run are then O(modules) whatever
its ticks.  An attempt's row is committed before its end is traced, so a call that a
resumed run replays from the trace always has its status in the table.

``.simba/layout`` holds the layout of a journal run, so ``--resume`` keeps it.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from simba.plan import Call
from simba.record.rows import CallDocuments
from simba.record.schema import DOCUMENTS

TICK = "tick"
JOURNAL = "journal"
LAYOUTS = (TICK, JOURNAL)
#: Of a call's stdout or stderr the database keeps at most this much (its head).
MAX_OUTPUT_BYTES = 1 << 20
#: The file in ``.simba/`` that names a journal run's layout.
LAYOUT_FILE = "layout"
#: A module's fixed call directory, under ``modules/<name>/``.
CALL_DIR = "call"


def phase_of(mode: str) -> int:
    return {"start": 0, "step": 1, "end": 2}[mode]


class Documents:
    """The ``documents`` table of a journal run, written once per attempt."""

    def __init__(self, database: Path) -> None:
        self._db = sqlite3.connect(
            database, timeout=60, isolation_level=None, check_same_thread=False
        )
        self._lock = threading.Lock()  # calls of a batch may run in threads
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(DOCUMENTS)

    def record(
        self, call: Call, *, slot: int, attempt: int, config: str, files: tuple[Path, Path, Path]
    ) -> None:
        """Record an attempt from its status, stdout and stderr files (as they are now)."""
        status, stdout, stderr = (_read(path, MAX_OUTPUT_BYTES) for path in files)
        outputs = (status, stdout, stderr)
        self.record_bytes(call, slot=slot, attempt=attempt, config=config, outputs=outputs)

    def record_bytes(
        self,
        call: Call,
        *,
        slot: int,
        attempt: int,
        config: str,
        outputs: tuple[bytes | None, bytes | None, bytes | None],
    ) -> None:
        status, stdout, stderr = outputs
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO documents VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    call.module.name,
                    call.mode.value,
                    phase_of(call.mode.value),
                    call.tick,
                    slot,
                    attempt,
                    config,
                    status,
                    stdout or b"",
                    stderr or b"",
                ),
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()


def config_text(document: Mapping[str, Any]) -> str:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"))


def read_head(path: Path) -> bytes | None:
    """The first :data:`MAX_OUTPUT_BYTES` of an output file; ``None`` if there is none."""
    return _read(path, MAX_OUTPUT_BYTES)


def _read(path: Path, limit: int) -> bytes | None:
    try:
        with path.open("rb") as handle:
            return handle.read(limit)
    except OSError:
        return None


def journal_call_dir(root: Path, call: Call) -> Path:
    """``modules/<name>/call/`` of ``call``'s module."""
    return root / "modules" / call.module.name / CALL_DIR


def recorded_status(status_path: Path, call: Call) -> bytes | None:
    """The status recorded for ``call``'s last attempt: in a journal run (``status_path`` in
    ``<run>/modules/<name>/call/``), or for an inline call (no status file); else ``None``."""
    directory = status_path.parent
    journal = directory.name == CALL_DIR and directory.parent.parent.name == "modules"
    if not journal and call.module.protocol != "inline":
        return None
    root = directory.parents[2] if journal else directory.parent
    found = read_documents(root, call.module.name, call.tick, call.mode.value)
    return found[-1].status if found else None


def read_documents(
    root: Path, module: str, tick: int, mode: str | None = None
) -> list[CallDocuments]:
    """The recorded attempts of ``module``'s call(s) at ``tick`` (oldest first)."""
    database = root / ".simba" / "run.db"
    if not database.exists():
        return []
    db = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        query = (
            "SELECT module, mode, tick, attempt, config, status, stdout, stderr FROM documents "
            "WHERE module = ? AND tick = ?"
        )
        args: tuple[object, ...] = (module, tick)
        if mode is not None:
            query += " AND mode = ?"
            args += (mode,)
        rows = db.execute(query + " ORDER BY phase, attempt", args).fetchall()
    except sqlite3.OperationalError:  # no such table: not a journal run
        return []
    finally:
        db.close()
    return [
        CallDocuments(
            module=r[0],
            mode=r[1],
            tick=r[2],
            attempt=r[3],
            config=r[4],
            status=r[5],
            stdout=bytes(r[6] or b""),
            stderr=bytes(r[7] or b""),
        )
        for r in rows
    ]
