"""The run database (``.simba/run.db``): what a run records, read while it runs, across kills.

Real runs throughout: ``python -m simba`` on examples/quickstart and on the small module
executables of tests/modules/, a live reader on a run in progress, SIGKILL and resume.
"""

from __future__ import annotations

import json
import random
import shutil
import socket
import subprocess
import time
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import pytest
from conftest import EXAMPLES, MODULES, launch, run_cli, wait_for
from db_rows import database, rows, state_rows, successful_attempts

from simba.record.reader import open_record

MODEL = str(MODULES / "rel_model.py")
HASH = str(MODULES / "res_hash.sh")


def quickstart_run(tmp_path: Path) -> Path:
    result = run_cli(
        "run", EXAMPLES / "quickstart", "-o", tmp_path / "out", "--run-id", "q", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    return tmp_path / "out" / "q"


def test_the_quickstart_run_records_every_call_its_state_and_its_usage(tmp_path: Path) -> None:
    """Every call has one successful attempt and one state row, in plan order; local calls
    carry their rusage, resident ones their per-call figures; meta and drivers say success."""
    run_dir = quickstart_run(tmp_path)
    summary = json.loads((run_dir / ".simba" / "summary.json").read_text())
    with open_record(run_dir) as record:
        meta = record.meta()
        assert (meta.run_id, meta.outcome, meta.error, meta.layout) == (
            "q",
            "success",
            None,
            "tick",
        )
        assert meta.planned_calls == summary["plannedCalls"] == summary["calls"]
        assert (meta.initial_tick, meta.final_tick) == (0, 120)
        assert meta.ended_at is not None and meta.started_at is not None
        assert meta.started_at <= meta.ended_at
        assert meta.fingerprint and meta.simba_version and meta.schema_version == 1
        (driver,) = record.drivers()
        assert driver.outcome == "success" and driver.command_line[-4:] == (
            "-o",
            str(tmp_path / "out"),
            "--run-id",
            "q",
        )
        assert [(m.module, m.type) for m in record.modules()] == [
            ("sir", "resident"),
            ("policy", "resident"),
            ("weekly", "local"),
            ("reporter", "resident"),
        ]
        attempts = record.attempts()
        state = list(record.state())
    assert len(attempts) == len(state) == summary["calls"]
    assert {a.outcome for a in attempts} == {"success"}
    assert all(a.ended_at is not None and a.status_sha256 for a in attempts)
    assert [(a.module, a.mode, a.tick) for a in attempts] == [
        (s.module, s.mode, s.tick) for s in state
    ]
    for module in ("sir", "policy", "weekly", "reporter"):
        counted = sum(1 for a in attempts if a.module == module)
        assert counted == summary["modules"][module]["calls"]
    weekly = [a for a in attempts if a.module == "weekly"]
    assert all(a.runner == "local" and a.exit_code == 0 for a in weekly)
    assert all(a.user_cpu is not None and a.system_cpu is not None for a in weekly)
    assert all(a.max_rss_kb and a.max_rss_kb > 0 for a in weekly)
    assert sum(a.user_cpu or 0 for a in weekly) + sum(a.system_cpu or 0 for a in weekly) > 0
    resident = [a for a in attempts if a.runner == "resident"]
    assert all(a.max_rss_kb and a.user_cpu is not None for a in resident)
    # The state history rebuilds the final commonData: the last value of each key.
    final: dict[str, Any] = {}
    for row in state:
        final.update(row.common_data)
    assert final == {k: v for k, v in summary["commonData"].items() if k in final}
    assert state[-1].time == "2024-06-29T00:00:00"


def test_module_lines_and_warnings_carry_tick_and_time(write_scenario: Any, tmp_path: Path) -> None:
    """INFO/ERROR lines of a module and SIMBA's warnings are messages with their tick and time."""
    scenario = write_scenario(
        [
            {"name": "talk", "priority": 2, "command": str(MODULES / "info_error.sh")},
            {"name": "ok", "priority": 1, "command": str(MODULES / "ok.sh")},
        ]
    )
    result = run_cli("run", scenario, "-o", tmp_path / "out", "--run-id", "m", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    with open_record(tmp_path / "out" / "m") as record:
        messages = record.messages()
    infos = [(m.level, m.tick, m.time, m.text) for m in messages if m.module == "talk"]
    assert ("INFO", 1, "2024-01-02T00:00:00", "hello from tick 1") in infos
    assert ("ERROR", 2, "2024-01-03T00:00:00", "something odd happened") in infos


def slow_module(directory: Path) -> str:
    """An sh module that sleeps 0.4 s per call and counts its calls in moduleData."""
    path = directory / "slow.sh"
    path.write_text(
        "#!/bin/sh\n"
        "sleep 0.4\n"
        'status=$(sed -n \'s/^ *"statusFile": "\\(.*\\)",$/\\1/p\' "$1")\n'
        'tick=$(sed -n \'s/^ *"currentTick": \\([0-9]*\\),$/\\1/p\' "$1")\n'
        'printf \'{"status": "success", "moduleData": {"tick": %s}}\\n\' "$tick" > "$status"\n'
    )
    path.chmod(0o755)
    return str(path)


def test_a_reader_sees_the_run_while_it_writes(write_scenario: Any, tmp_path: Path) -> None:
    """While a run of slow calls goes on, a read-only reader sees the running attempt (no
    end yet) and the finished calls growing, before the run has ended."""
    driver = {
        "initialTime": "2024-01-01T00:00:00",
        "endTime": "2024-01-09T00:00:00",
        "scheduleIntervals": [{"tickDuration": "P1D"}],
    }
    scenario = write_scenario(
        [{"name": "slow", "priority": 1, "command": slow_module(tmp_path)}], driver
    )
    run_dir = tmp_path / "out" / "live"
    process = launch("run", scenario, "-o", tmp_path / "out", "--run-id", "live", cwd=tmp_path)
    try:
        wait_for(database(run_dir), process)
        seen_running: set[tuple[str, int]] = set()
        finished: list[int] = []
        outcomes: list[str | None] = []
        deadline = time.monotonic() + 60
        while process.poll() is None and time.monotonic() < deadline:
            with open_record(run_dir) as record:
                running = record.running()
                ended = sum(1 for a in record.attempts() if a.ended_at is not None)
                meta = record.meta()
            seen_running.update((a.mode, a.tick) for a in running)
            finished.append(ended)
            outcomes.append(meta.outcome)
            time.sleep(0.1)
        _, stderr = process.communicate(timeout=60)
        assert process.returncode == 0, stderr
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=30)
    assert len(seen_running) >= 3, seen_running
    assert len(set(finished)) >= 3 and finished == sorted(finished)
    assert outcomes[0] is None  # no outcome while it runs
    with open_record(run_dir) as record:
        assert record.meta().outcome == "success" and record.running() == []
        assert len(record.attempts()) == 10


def test_a_damaged_database_stops_the_resume_with_what_to_do(tmp_path: Path) -> None:
    """A run.db that is not a database: --resume exits 2, naming the file and what to do."""
    run_dir = quickstart_run(tmp_path)
    for suffix in ("-wal", "-shm"):
        Path(f"{database(run_dir)}{suffix}").unlink(missing_ok=True)
    database(run_dir).write_bytes(b"this is no database" * 300)
    result = run_cli("run", "--resume", run_dir, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert str(database(run_dir)) in result.stderr and "move it aside" in result.stderr
    assert "Traceback" not in result.stderr
    database(run_dir).unlink()  # as the message says: the resume then starts a new record
    result = run_cli("run", "--resume", run_dir, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert rows(run_dir, "SELECT value FROM meta WHERE key = 'outcome'") == [('"success"',)]


def test_a_sweep_cell_records_its_cell_id(write_scenario: Any, tmp_path: Path) -> None:
    """Each cell of a sweep has its own database whose meta names the cell."""
    scenario = write_scenario([{"name": "ok", "priority": 1, "command": str(MODULES / "ok.sh")}])
    sweep = tmp_path / "sweep.json"
    sweep.write_text(
        json.dumps(
            {
                "scenario": str(scenario),
                "runId": "sw",
                "outputDirectory": str(tmp_path / "out"),
                "cells": [{"id": "a"}, {"id": "b", "driver": {"endTime": "2024-01-03T00:00:00"}}],
            }
        )
    )
    result = run_cli("sweep", sweep, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for cell in ("a", "b"):
        with open_record(tmp_path / "out" / "sw" / cell) as record:
            meta = record.meta()
        assert (meta.cell_id, meta.run_id, meta.outcome) == (cell, "sw", "success")


def chaos_schedule() -> dict[str, Any]:
    """A local model, a resident one and a local one every other tick, each seeing the others."""
    return {
        "commonData": {"a": 0, "r": None, "s": None, "shared": "none"},
        "schedule": [
            {
                "name": "a",
                "priority": 3,
                "command": MODEL,
                "updateCommonData": True,
                "moduleData": {"key": "a", "sleep": [0.0, 0.03]},
            },
            {
                "name": "r",
                "priority": 2,
                "type": "resident",
                "command": [HASH, "r"],
                "updateCommonData": True,
            },
            {
                "name": "s",
                "priority": 1,
                "command": [HASH, "s"],
                "updateCommonData": True,
                "tickIncrement": 2,
            },
        ],
    }


def drivers_recorded(run_dir: Path) -> int:
    """How many drivers have their row in the run database (0 before it exists)."""
    if not database(run_dir).exists():
        return 0
    return int(rows(run_dir, "SELECT count(*) FROM drivers")[0][0])


def kill_while_recording(
    args: list[Any], run_dir: Path, *, kills: int, cwd: Path, seed: int
) -> None:
    """Start ``simba ARGS``; once the driver has its row in the database, SIGKILL it at a
    random moment; resume, ``kills`` times; then let the last driver finish."""
    rng = random.Random(seed)
    command = args
    for number in range(kills):
        process = launch(*command, cwd=cwd)
        deadline = time.monotonic() + 60
        while drivers_recorded(run_dir) <= number:
            assert process.poll() is None, process.communicate()[1]
            assert time.monotonic() < deadline, "the driver never opened the run database"
            time.sleep(0.01)
        try:
            process.wait(rng.uniform(0.05, 0.4))
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate(timeout=30)
        else:
            pytest.fail(f"the run finished before kill {number + 1}: {process.communicate()}")
        command = ["run", "--resume", run_dir]
    result = run_cli(*command, cwd=cwd)
    assert result.returncode == 0, result.stderr


def test_sigkilled_and_resumed_run_records_what_an_uninterrupted_run_does(
    write_scenario: Any, tmp_path: Path
) -> None:
    """Killed 10 times at random moments while it records, and resumed, the run's state
    table and its successful, not superseded attempts equal an uninterrupted run's;
    every driver has its row, ended only for the last; no attempt is left open."""
    days = 150
    driver = {
        "initialTime": "2024-01-01T00:00:00",
        "endTime": f"P{days}D",
        "scheduleIntervals": [{"tickDuration": "P1D"}],
    }
    scenario = write_scenario(chaos_schedule(), driver)
    out = tmp_path / "runs"
    reference = run_cli("run", scenario, "-o", out, "--run-id", "chaos", cwd=tmp_path)
    assert reference.returncode == 0, reference.stderr
    (out / "chaos").rename(out / "reference")
    run_dir = (out / "chaos").resolve()
    args = ["run", scenario, "-o", out, "--run-id", "chaos"]
    kill_while_recording(args, run_dir, kills=10, cwd=tmp_path, seed=13)
    assert state_rows(run_dir) == state_rows(out / "reference")
    assert successful_attempts(run_dir) == successful_attempts(out / "reference")
    assert len(state_rows(run_dir)) == 3 * 2 + 2 * days + days // 2
    ((drivers, killed),) = rows(run_dir, "SELECT count(*), count(*) - count(ended_at) FROM drivers")
    assert (drivers, killed) == (11, 10)
    open_attempts = "SELECT count(*) FROM attempts WHERE ended_at IS NULL AND superseded = 0"
    assert rows(run_dir, open_attempts) == [(0,)]


def test_a_run_from_before_the_database_resumes_and_gets_one(
    write_scenario: Any, tmp_path: Path
) -> None:
    """A run directory without run.db (an earlier SIMBA) resumes; the database is created
    then, with the calls this driver replays or runs."""
    driver = {
        "initialTime": "2024-01-01T00:00:00",
        "endTime": "P30D",
        "scheduleIntervals": [{"tickDuration": "P1D"}],
    }
    scenario = write_scenario(chaos_schedule(), driver)
    run_dir = tmp_path / "out" / "old"
    process = launch("run", scenario, "-o", tmp_path / "out", "--run-id", "old", cwd=tmp_path)
    wait_for(run_dir / ".simba" / "checkpoint.json", process)
    time.sleep(1.5)
    process.kill()
    process.communicate(timeout=30)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database(run_dir)}{suffix}").unlink(missing_ok=True)
    result = run_cli("run", "--resume", run_dir, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    with open_record(run_dir) as record:
        assert record.meta().outcome == "success"
        state = list(record.state())
    assert state and state[-1].mode == "end"


def test_continue_from_tick_keeps_the_earlier_rows_and_replaces_the_later(
    write_scenario: Any, tmp_path: Path
) -> None:
    """continueFromTick in the earlier run's directory: the rows before that tick stay,
    the calls from it on are recorded anew (their earlier attempts superseded)."""
    driver: dict[str, Any] = {
        "initialTime": "2024-01-01T00:00:00",
        "endTime": "P10D",
        "scheduleIntervals": [{"tickDuration": "P1D"}],
        "outputDirectory": str(tmp_path / "out"),
        "runId": "cont",
    }
    scenario = write_scenario(chaos_schedule(), driver)
    assert run_cli("run", scenario, cwd=tmp_path).returncode == 0
    run_dir = tmp_path / "out" / "cont"
    before = state_rows(run_dir)
    shutil.copy(scenario / "driver.json", tmp_path / "driver.json.bak")
    (scenario / "driver.json").write_text(json.dumps({**driver, "continueFromTick": 6}))
    result = run_cli("run", scenario, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    after = state_rows(run_dir)
    assert [row[:6] for row in after] == [row[:6] for row in before]
    assert [r for r in after if r[0] == 1 and r[1] < 6] == [
        r for r in before if r[0] == 1 and r[1] < 6
    ]
    superseded = rows(run_dir, "SELECT DISTINCT mode, tick FROM attempts WHERE superseded = 1")
    assert {tick for mode, tick in superseded if mode == "step"} == set(range(6, 10))
    assert rows(run_dir, "SELECT count(*) FROM drivers") == [(2,)]


def test_the_docs_name_every_table_and_column() -> None:
    """docs/record.rst documents each table and column of the schema."""
    from simba.record.schema import DOCUMENTS, TABLES

    page = (Path(__file__).resolve().parents[2] / "docs" / "record.rst").read_text()
    connection = __import__("sqlite3").connect(":memory:")
    connection.executescript(TABLES + DOCUMENTS)
    tables = [t for (t,) in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    assert len(tables) == 8
    for table in tables:
        assert f"``{table}``" in page, table
        for column in connection.execute(f"PRAGMA table_info({table})"):
            assert f"``{column[1]}``" in page, f"{table}.{column[1]}"


def test_the_docs_example_reads_a_run_as_it_says(tmp_path: Path) -> None:
    """docs/record.rst's example runs the quickstart and prints what its comments say."""
    from test_docs_examples import DOCS, Session, run_python_block

    shutil.copytree(EXAMPLES / "quickstart", tmp_path / "examples" / "quickstart")
    run_python_block(Session(tmp_path), DOCS / "record.rst", "record-read")


@pytest.mark.skipif(find_spec("parsl") is None, reason="Parsl is not installed")
def test_parsl_calls_record_their_executor_block_job_and_worker_host(
    write_scenario: Any, tmp_path: Path
) -> None:
    """A type-parsl call's attempt names its executor, the worker's block and host, and
    the block's job id as Parsl's provider gave it; its resource usage is NULL."""
    executor = {"type": "HighThroughputExecutor", "label": "pool", "max_workers": 1}
    scenario = write_scenario(
        [
            {
                "name": "p",
                "priority": 1,
                "type": "parsl",
                "command": str(MODULES / "ok.sh"),
                "executor": executor,
            }
        ]
    )
    result = run_cli("run", scenario, "--run-id", "parsl", cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr
    with open_record(tmp_path / "runs" / "parsl") as record:
        attempts = record.attempts()
    assert len(attempts) == 5 and {a.runner for a in attempts} == {"parsl"}
    for attempt in attempts:
        assert (attempt.executor, attempt.block_id) == ("pool", "0")
        assert attempt.job_id and attempt.host == socket.gethostname()
        assert attempt.user_cpu is None and attempt.max_rss_kb is None
    assert list((tmp_path / "runs" / "parsl" / ".simba" / "parsl" / "where").iterdir()) == []


def test_service_stats_and_warnings_are_recorded(write_scenario: Any, tmp_path: Path) -> None:
    """Each new jobsCompleted of a service is a service_stats row; its warnings are messages."""
    service = {
        "name": "svc",
        "type": "service",
        "priority": 100,
        "command": str(MODULES / "svc_service.py"),
        "readyTimeout": 5,
        "statsInterval": 0.1,
        "env": {"SVC_JOBS": "E,J,3,5,2,6"},
    }
    client = {
        "name": "client",
        "priority": 1,
        "command": str(MODULES / "svc_client.py"),
        "moduleData": {"sleep": 0.6},
    }
    scenario = write_scenario([service, client])
    result = run_cli("run", scenario, "-o", tmp_path / "out", "--run-id", "s", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    with open_record(tmp_path / "out" / "s") as record:
        stats = record.service_stats()
        warnings = [m for m in record.messages() if m.level == "WARNING" and m.module == "svc"]
        modules = {m.module: m.type for m in record.modules()}
    assert [s.jobs_completed for s in stats] == [3, 5, 2, 6]
    assert [s.at for s in stats] == sorted(s.at for s in stats)
    assert {s.module for s in stats} == {"svc"}
    assert len(warnings) == 2 and "went down from 5 to 2" in warnings[1].text
    assert modules == {"svc": "service", "client": "local"}


def test_a_failed_run_records_why_it_stopped(write_scenario: Any, tmp_path: Path) -> None:
    """A module that exits 3: its attempt says exit 3 with the reason, meta and the driver
    say failed with the whole error, and the calls before it have their state rows."""
    scenario = write_scenario(
        [
            {"name": "ok", "priority": 2, "command": str(MODULES / "ok.sh")},
            {"name": "bad", "priority": 1, "command": str(MODULES / "exit3.sh")},
        ]
    )
    result = run_cli("run", scenario, "-o", tmp_path / "out", "--run-id", "f", cwd=tmp_path)
    assert result.returncode == 1
    with open_record(tmp_path / "out" / "f") as record:
        meta, (driver,) = record.meta(), record.drivers()
        attempts, state = record.attempts(), list(record.state())
    assert meta.outcome == driver.outcome == "failed"
    assert meta.error == driver.error and "exited with code 3" in (meta.error or "")
    assert [(a.module, a.outcome, a.exit_code) for a in attempts] == [
        ("ok", "success", 0),
        ("bad", "exit", 3),
    ]
    assert attempts[1].reason and "bad" in attempts[1].reason
    assert attempts[1].status_sha256 is None and attempts[1].ended_at is not None
    assert [(s.module, s.mode) for s in state] == [("ok", "start")]
