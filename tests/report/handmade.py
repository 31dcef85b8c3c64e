"""A run database filled by hand from the DDL (simba.record.schema), for the report's tests.

Used where a real run cannot give what a test needs cheaply (10,000 calls for the size
budget); the other tests report on real runs.
"""

from __future__ import annotations

import json
import math
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path

from simba.record.schema import SCHEMA_VERSION, TABLES

MODULES = ("sir", "policy", "weekly", "reporter")


def handmade_run(root: Path, *, ticks: int = 100, started: float = 1_700_000_000.0) -> Path:
    """A finished run of four modules over ``ticks`` ticks: one call per module per tick."""
    (root / ".simba").mkdir(parents=True)
    db = sqlite3.connect(root / ".simba" / "run.db")
    db.executescript(TABLES)
    first = datetime(2024, 3, 1)
    clock = started
    meta = {
        "runId": "handmade", "cellId": None, "scenario": "/tmp/scenario",
        "fingerprint": "0" * 64, "simbaVersion": "0.1.0", "schemaVersion": SCHEMA_VERSION,
        "initialTick": 0, "finalTick": ticks - 1, "initialTime": first.isoformat(),
        "finalTime": (first + timedelta(days=ticks - 1)).isoformat(),
        "plannedCalls": ticks * len(MODULES), "startedAt": started,
    }  # fmt: skip
    db.executemany(
        "INSERT INTO modules VALUES (?, ?, 'resident', ?, ?, 0, NULL)",
        [
            (name, i + 1, 30 - 10 * i, json.dumps(["sir"] if i else []))
            for i, name in enumerate(MODULES)
        ],
    )
    attempts, states = [], []
    for tick in range(ticks):
        time = (first + timedelta(days=tick)).isoformat()
        for slot, name in enumerate(MODULES):
            wall = 0.001 + 0.0005 * slot + 0.0001 * (tick % 7)
            attempts.append(
                (1, name, "step", 1, tick, tick + 1, slot, 1, "resident", clock, clock + wall,
                 wall, wall * 0.8, wall * 0.1, 20_000 + 100 * slot, 0, None, "success", None,
                 "localhost", None, None, None, None, 0)
            )  # fmt: skip
            clock += wall + 0.0002
            infected = 1000 * math.sin(tick / 10) ** 2 + slot
            common = {"epidemic": {"I": infected, "S": 100_000 - infected}} if slot == 0 else {}
            states.append(
                (1, tick, slot, name, "step", tick + 1, time, json.dumps(common),
                 json.dumps({"beta": 0.3, "calls": tick}))
            )  # fmt: skip
    db.executemany(
        "INSERT INTO attempts (driver, module, mode, phase, tick, target_tick, slot, attempt,"
        " runner, started_at, ended_at, wall_time, user_cpu, system_cpu, max_rss_kb, exit_code,"
        " signal, outcome, reason, host, status_sha256, executor, block_id, job_id, superseded)"
        " VALUES (" + ", ".join("?" * 25) + ")",
        attempts,
    )
    db.executemany("INSERT INTO state VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", states)
    meta["endedAt"], meta["outcome"] = clock, "success"
    db.executemany("INSERT INTO meta VALUES (?, ?)", [(k, json.dumps(v)) for k, v in meta.items()])
    db.execute(
        "INSERT INTO drivers VALUES (1, 4242, 'localhost', ?, ?, ?, 'success', NULL)",
        (json.dumps(["simba", "run", "scenario"]), started, clock),
    )
    db.execute(
        "INSERT INTO messages (driver, at, level, module, tick, time, text)"
        " VALUES (1, ?, 'WARNING', 'policy', 3, ?, 'commonData key ignored')",
        (started + 1, first.isoformat()),
    )
    db.commit()
    db.close()
    return root
