"""What the run-database tests compare: a database's rows without ids and timings."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any


def database(run_dir: Path) -> Path:
    return run_dir / ".simba" / "run.db"


def rows(run_dir: Path, query: str, *parameters: Any) -> list[tuple[Any, ...]]:
    """The rows of ``query`` on the run database of ``run_dir`` (opened read-only)."""
    connection = sqlite3.connect(f"{database(run_dir).as_uri()}?mode=ro", uri=True)
    try:
        return connection.execute(query, parameters).fetchall()
    finally:
        connection.close()


def state_rows(run_dir: Path) -> list[tuple[Any, ...]]:
    """The state history in plan order, every column."""
    return rows(run_dir, "SELECT * FROM state ORDER BY phase, tick, slot")


def successful_attempts(run_dir: Path) -> list[tuple[Any, ...]]:
    """The successful attempts that were not superseded: (module, mode, tick, attempt)."""
    return rows(
        run_dir,
        "SELECT module, mode, tick, attempt FROM attempts WHERE outcome = 'success'"
        " AND superseded = 0 ORDER BY phase, tick, slot, attempt",
    )
