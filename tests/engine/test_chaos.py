"""SIGKILL chaos in one scenario that mixes local, resident and ``-j`` dependency calls (issue 12).

The driver is killed 50 times at random moments and resumed each time; the run must end
exactly like an uninterrupted one: the same final state, the same successful calls in
the same order (calls of one batch that ran side by side may finish in any order), and
no process of the run left; its run database holds the same state history and the same
successful, not superseded attempts.  Real processes throughout: ``python -m simba`` with the
modules ``tests/modules/rel_model.py`` (local) and ``res_hash.sh`` (local and resident).
"""

from __future__ import annotations

import itertools
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from conftest import (
    MODULES,
    final_state,
    run_cli,
    run_processes,
    sigkill_and_resume,
)

from simba.engine.journal import read_trace

#: The state history in plan order, and the successful attempts that were not superseded.
STATE = "SELECT * FROM state ORDER BY phase, tick, slot"
SUCCESSFUL_ATTEMPTS = (
    "SELECT module, mode, tick, attempt FROM attempts WHERE outcome = 'success'"
    " AND superseded = 0 ORDER BY phase, tick, slot, attempt"
)
MODEL = str(MODULES / "rel_model.py")
HASH = str(MODULES / "res_hash.sh")
KILLS = 50
DAYS = 120


def schedule() -> dict[str, Any]:
    """a, then b (local) and r (resident) side by side, then s (local, every other day)."""
    return {
        "commonData": {"a": 0, "b": 0, "r": None, "s": None, "shared": "none"},
        "schedule": [
            {
                "name": name,
                "priority": 4 - index,
                "command": MODEL,
                "updateCommonData": True,
                "dependsOn": depends,
                "moduleData": {"key": name, "sleep": [0.0, 0.02]},
            }
            for index, (name, depends) in enumerate([("a", []), ("b", ["a"])])
        ]
        + [
            {
                "name": "r",
                "priority": 2,
                "type": "resident",
                "command": [HASH, "r"],
                "updateCommonData": True,
                "dependsOn": ["a"],
            },
            {
                "name": "s",
                "priority": 1,
                "command": [HASH, "s"],
                "updateCommonData": True,
                "dependsOn": ["b", "r"],
                "tickIncrement": 2,
            },
        ],
    }


def successes(run_dir: Path) -> list[tuple[str, int, list[str]]]:
    """The successful calls in trace.jsonl, batch by batch: (mode, tick, sorted modules)."""
    trace = read_trace(run_dir / ".simba" / "trace.jsonl")
    done = [r for r in trace if r["outcome"] == "success"]
    return [
        (mode, tick, sorted(r["module"] for r in batch))
        for (mode, tick), batch in itertools.groupby(done, key=lambda r: (r["mode"], r["tick"]))
    ]


def database_rows(run_dir: Path, query: str) -> list[tuple[Any, ...]]:
    """The rows of ``query`` on the run's database (read-only)."""
    path = run_dir / ".simba" / "run.db"
    connection = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    try:
        return connection.execute(query).fetchall()
    finally:
        connection.close()


@pytest.mark.slow
def test_fifty_sigkills_mixing_local_resident_and_parallel_calls(
    write_scenario: Any, tmp_path: Path
) -> None:
    """A -j 2 dependency run of local and resident modules, SIGKILLed 50 times at random
    moments and resumed each time, ends exactly like an uninterrupted run."""
    driver = {
        "initialTime": "2024-01-01T00:00:00",
        "endTime": f"P{DAYS}D",
        "scheduleIntervals": [{"tickDuration": "P1D"}],
    }
    scenario = write_scenario(schedule(), driver)
    out = tmp_path / "runs"
    # res_hash.sh hashes the whole config, paths included: the reference runs at the same
    # path, then moves aside.
    reference = run_cli("run", scenario, "-o", out, "--run-id", "chaos", "-j", "2", cwd=tmp_path)
    assert reference.returncode == 0, reference.stderr
    (out / "chaos").rename(out / "reference")
    run_dir = (out / "chaos").resolve()
    args = ["run", scenario, "-o", out, "--run-id", "chaos", "-j", "2"]
    kills = sigkill_and_resume(
        args, run_dir, kills=KILLS, cwd=tmp_path, pause=(0.05, 0.6), seed=20261125
    )
    assert kills == KILLS, "the run finished before it could be killed often enough"
    assert final_state(run_dir) == final_state(out / "reference")
    assert successes(run_dir) == successes(out / "reference")
    calls = sum(len(modules) for _, _, modules in successes(run_dir))
    assert calls == 4 * 2 + 3 * DAYS + DAYS // 2
    assert run_processes(run_dir) == []
    # The run database: the resumed run's record equals the uninterrupted run's.
    for query in (STATE, SUCCESSFUL_ATTEMPTS):
        assert database_rows(run_dir, query) == database_rows(out / "reference", query)
    assert len(database_rows(run_dir, STATE)) == calls
