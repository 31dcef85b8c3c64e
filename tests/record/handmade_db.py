"""A run database filled by hand from the schema's DDL: for cases no real run makes on demand.

(A driver on another host, a driver that recorded its end, hand-picked nested data.)
Real runs make the rest of the tests' databases.
"""

from __future__ import annotations

import json
import socket
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from simba.record.schema import TABLES

#: (phase, tick, slot, module, mode, time, commonData set, moduleData returned)
StateRow = tuple[int, int, int, str, str, str, dict[str, Any], Any]


def make_run(
    run_dir: Path,
    *,
    state: Sequence[StateRow] = (),
    meta: dict[str, Any] | None = None,
    drivers: Sequence[dict[str, Any]] = (),
    attempts: Sequence[dict[str, Any]] = (),
) -> Path:
    """A run directory whose ``.simba/run.db`` holds these rows; returns the database's path."""
    (run_dir / ".simba").mkdir(parents=True, exist_ok=True)
    path = run_dir / ".simba" / "run.db"
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.executescript(TABLES)
    for key, value in (meta or {}).items():
        connection.execute("INSERT INTO meta VALUES (?, ?)", (key, json.dumps(value)))
    for number, driver in enumerate(drivers, start=1):
        row = {
            "driver": number,
            "pid": 1,
            "host": socket.gethostname(),
            "command_line": "[]",
            "started_at": time.time() - 10,
            **driver,
        }
        _insert(connection, "drivers", row)
    for attempt in attempts:
        row = {
            "driver": 1,
            "phase": 1,
            "slot": 0,
            "attempt": 1,
            "runner": "local",
            "host": socket.gethostname(),
            "started_at": time.time() - 1,
            **attempt,
        }
        _insert(connection, "attempts", row)
    for phase, tick, slot, module, mode, when, common, data in state:
        connection.execute(
            "INSERT INTO state (phase, tick, slot, module, mode, time, common_data, module_data)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (phase, tick, slot, module, mode, when, json.dumps(common), json.dumps(data)),
        )
    connection.commit()
    connection.close()
    return path


def _insert(connection: sqlite3.Connection, table: str, row: dict[str, Any]) -> None:
    names = ", ".join(row)
    marks = ", ".join("?" for _ in row)
    connection.execute(f"INSERT INTO {table} ({names}) VALUES ({marks})", tuple(row.values()))
