"""Run layouts (DESIGN §7, §16): ``tick`` (a directory per tick) or ``journal``.

In the ``journal`` layout no call gets a directory of its own: each module works in
``modules/<name>/call/``, where its config, status and output files sit at fixed paths
and are overwritten per call (the config document still carries ``statusFile``), and
each attempt's config, status, stdout and stderr are recorded in the ``documents``
table of ``.simba/run.db`` instead.  The files of a run are then O(modules) whatever
its ticks.  The rows are committed with the run database's batches (every 0.2 s, at
most once a second in a busy run, and before every checkpoint), not one by one: a
resumed run replays a call from the trace only if its row is there
(:class:`Documented`), and runs it again otherwise.

``.simba/layout`` holds the layout of a journal run, so ``--resume`` keeps it.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from simba.output import MAX_KEPT_BYTES
from simba.plan import Call
from simba.record.rows import CallDocuments

TICK = "tick"
JOURNAL = "journal"
LAYOUTS = (TICK, JOURNAL)
#: Of a call's stdout or stderr the database keeps at most this much (its head).
MAX_OUTPUT_BYTES = MAX_KEPT_BYTES
#: The file in ``.simba/`` that names a journal run's layout.
LAYOUT_FILE = "layout"
#: A module's fixed call directory, under ``modules/<name>/``.
CALL_DIR = "call"


class Documented:
    """Whether the run database holds an attempt's documents with a status (read only)."""

    def __init__(self, root: Path) -> None:
        database = root / ".simba" / "run.db"
        self._db = (
            sqlite3.connect(f"file:{database}?mode=ro", uri=True) if database.exists() else None
        )

    def __call__(self, module: str, mode: str, tick: int, attempt: int) -> bool:
        if self._db is None:
            return False
        try:
            found = self._db.execute(
                "SELECT 1 FROM documents WHERE module = ? AND mode = ? AND tick = ?"
                " AND attempt = ? AND status IS NOT NULL",
                (module, mode, tick, attempt),
            ).fetchone()
        except sqlite3.OperationalError:  # no such table: nothing recorded yet
            return False
        return found is not None

    def close(self) -> None:
        if self._db is not None:
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
