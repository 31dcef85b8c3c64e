"""The journal run layout with real processes: O(modules) files, documents in run.db, resume."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from conftest import MODULES, final_state, launch, sigkill_and_resume, wait_for

Cli = Callable[..., subprocess.CompletedProcess[str]]
SDK = str(MODULES / "res_sdk.py")


def driver(ticks: int, **fields: Any) -> dict[str, Any]:
    return {
        "initialTime": "2024-01-01T00:00:00",
        "endTime": f"PT{ticks}S",
        "scheduleIntervals": [{"tickDuration": "PT1S"}],
        "runLayout": "journal",
        **fields,
    }


def peers(log: Path) -> dict[str, Any]:
    """Two resident SDK modules: A (inline protocol) updates commonData, B (file protocol)."""
    env = {"RES_LOG": str(log)}
    common = {"type": "resident", "command": SDK, "env": env}
    return {
        "commonData": {"calls": 0, "total": 0},
        "schedule": [
            {"name": "A", "priority": 2, "protocol": "inline", "updateCommonData": True, **common},
            {"name": "B", "priority": 1, **common},
        ],
    }


def files_in(run_dir: Path) -> list[Path]:
    return [p for p in run_dir.rglob("*") if not p.is_dir()]


def documents(run_dir: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(run_dir / ".simba" / "run.db") as db:
        return db.execute(
            "SELECT module, mode, tick, attempt, config, status FROM documents "
            "ORDER BY phase, tick, module, attempt"
        ).fetchall()


def test_the_file_count_does_not_grow_with_the_ticks(
    write_scenario: Callable[..., Path], simba_cli: Cli, tmp_path: Path
) -> None:
    """20 ticks and 2,000 ticks leave the same files: no tick directory, fixed call files."""
    counts = {}
    for ticks in (20, 2000):
        scenario = write_scenario(peers(tmp_path / f"{ticks}.log"), driver(ticks))
        result = simba_cli("run", scenario, "-o", "runs", "--run-id", f"t{ticks}")
        assert result.returncode == 0, result.stdout + result.stderr
        run_dir = tmp_path / "runs" / f"t{ticks}"
        counts[ticks] = sorted(str(p.relative_to(run_dir)) for p in files_in(run_dir))
        assert not (run_dir / "0").exists() and not (run_dir / "start").exists()
        rows = documents(run_dir)
        assert len(rows) == 2 * (ticks + 2)  # every call's documents are in the database
        common, _ = final_state(run_dir)
        assert common["total"] == ticks
    assert counts[20] == counts[2000]
    assert len(counts[2000]) < 20, counts[2000]
    assert "modules/B/call/module_2.json" in counts[2000]  # the file protocol's fixed paths
    assert "modules/A/call/module_1.json" not in counts[2000]  # inline: no config file


def test_documents_are_those_the_module_saw_and_wrote(
    write_scenario: Callable[..., Path], simba_cli: Cli, tmp_path: Path
) -> None:
    """Each call's config (with its statusFile at the fixed path) and status are recorded."""
    scenario = write_scenario(peers(tmp_path / "r.log"), driver(3))
    result = simba_cli("run", scenario, "-o", "runs", "--run-id", "r")
    assert result.returncode == 0, result.stdout + result.stderr
    run_dir = tmp_path / "runs" / "r"
    rows = {
        (m, mode, tick): (json.loads(c), json.loads(s))
        for m, mode, tick, _, c, s in documents(run_dir)
    }
    config, status = rows[("B", "step", 1)]
    assert config["currentTick"] == 1 and config["targetTick"] == 2
    assert config["statusFile"] == str(run_dir / "modules" / "B" / "call" / "status_2.json")
    assert status == {"status": "success", "moduleData": {"count": 2}}
    config, status = rows[("A", "step", 2)]
    assert status["commonData"] == {"total": 3}
    assert config["commonData"]["total"] == 2


def test_a_retry_is_recorded_as_its_own_attempt(
    write_scenario: Callable[..., Path], simba_cli: Cli, tmp_path: Path
) -> None:
    """A crashed attempt and its successful retry: two rows, stderr kept with the first."""
    once = tmp_path / "crashed-once"
    entry = {
        "name": "m",
        "priority": 1,
        "type": "resident",
        "command": [str(MODULES / "res_counter.sh"), "crash", "1", str(once)],
        "env": {"RES_LOG": str(tmp_path / "m.log")},
        "retries": 1,
    }
    scenario = write_scenario({"schedule": [entry]}, driver(3))
    result = simba_cli("run", scenario, "-o", "runs", "--run-id", "r")
    assert result.returncode == 0, result.stdout + result.stderr
    run_dir = tmp_path / "runs" / "r"
    with sqlite3.connect(run_dir / ".simba" / "run.db") as db:
        rows = db.execute(
            "SELECT attempt, status, stderr FROM documents WHERE tick = 1 AND mode = 'step' "
            "ORDER BY attempt"
        ).fetchall()
    assert [row[0] for row in rows] == [1, 2]
    assert rows[0][1] is None and b"crashing at tick 1" in rows[0][2]
    assert json.loads(rows[1][1])["status"] == "success"


def test_sigkill_and_resume_gives_the_uninterrupted_result(
    write_scenario: Callable[..., Path], simba_cli: Cli, tmp_path: Path
) -> None:
    """kill -9 at random moments and --resume, both protocols: the same final state."""
    ticks = 1500
    scenario = write_scenario(peers(tmp_path / "whole.log"), driver(ticks), name="whole")
    result = simba_cli("run", scenario, "-o", "runs", "--run-id", "whole")
    assert result.returncode == 0, result.stdout + result.stderr
    expected = final_state(tmp_path / "runs" / "whole")
    scenario = write_scenario(peers(tmp_path / "killed.log"), driver(ticks), name="killed")
    run_dir = tmp_path / "runs" / "killed"
    kills = sigkill_and_resume(
        ["run", scenario, "-o", "runs", "--run-id", "killed"],
        run_dir,
        kills=4,
        cwd=tmp_path,
        pause=(0.2, 0.8),
        seed=15,
    )
    assert kills >= 2
    assert final_state(run_dir) == expected
    assert len(files_in(run_dir)) < 20
    whole = tmp_path / "runs" / "whole"
    assert recorded(run_dir, "SELECT * FROM state ORDER BY phase, tick, slot") == recorded(
        whole, "SELECT * FROM state ORDER BY phase, tick, slot"
    )
    last = (  # each call's last attempt: what the module saw and said (paths differ by run)
        "SELECT module, mode, tick, json_remove(config, '$.statusFile', '$.outputDirectory'), "
        "status FROM documents d WHERE attempt = (SELECT max(attempt) FROM documents e "
        "WHERE e.module = d.module AND e.phase = d.phase AND e.tick = d.tick) "
        "ORDER BY phase, tick, module"
    )
    assert recorded(run_dir, last) == recorded(whole, last)
    assert len(recorded(whole, last)) == 2 * (ticks + 2)
    # status, export and report read a journal run as they read a tick run
    exported = [simba_cli("export", d).stdout for d in (run_dir, whole)]
    assert exported[0] == exported[1] and exported[0].count("\n") > ticks
    status = json.loads(simba_cli("status", run_dir, "--json").stdout)
    assert (status["state"], status["callsDone"]) == ("success", 2 * (ticks + 2))
    report = simba_cli("report", run_dir, "-o", tmp_path / "killed.html")
    assert report.returncode == 0 and (tmp_path / "killed.html").stat().st_size > 100_000


def recorded(run_dir: Path, query: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(run_dir / ".simba" / "run.db") as db:
        return db.execute(query).fetchall()


def test_continue_from_tick_replays_the_earlier_calls_from_the_database(
    write_scenario: Callable[..., Path], simba_cli: Cli, tmp_path: Path
) -> None:
    """continueFromTick in a journal run: calls before N come from documents, not files."""
    out = tmp_path / "runs"
    full = write_scenario(
        peers(tmp_path / "full.log"), driver(8, runId="X", outputDirectory=str(out)), name="full"
    )
    result = simba_cli("run", full)
    assert result.returncode == 0, result.stdout + result.stderr
    expected = final_state(out / "X")
    log = tmp_path / "continued.log"
    later = driver(8, runId="X", outputDirectory=str(out), continueFromTick=5)
    continued = write_scenario(peers(log), later, name="continued")
    result = simba_cli("run", continued)
    assert result.returncode == 0, result.stdout + result.stderr
    assert final_state(out / "X") == expected
    executed = [line.split()[2:] for line in log.read_text().splitlines()]
    assert (
        executed == [[m, str(t)] for t in (5, 6, 7) for m in ("step", "step")] + [["end", "8"]] * 2
    )
    assert not (out / "X" / "5").exists()  # still the journal layout


def test_the_layout_option_overrides_the_scenario(
    write_scenario: Callable[..., Path], simba_cli: Cli, tmp_path: Path
) -> None:
    """--layout journal on a scenario without runLayout; --layout tick on one with it."""
    plain = {k: v for k, v in driver(3).items() if k != "runLayout"}
    scenario = write_scenario(peers(tmp_path / "j.log"), plain, name="plain")
    result = simba_cli("run", scenario, "-o", "runs", "--run-id", "j", "--layout", "journal")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "runs" / "j" / ".simba" / "layout").read_text() == "journal"
    assert not (tmp_path / "runs" / "j" / "0").exists()
    scenario = write_scenario(peers(tmp_path / "t.log"), driver(3), name="journal")
    result = simba_cli("run", scenario, "-o", "runs", "--run-id", "t", "--layout", "tick")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "runs" / "t" / "1" / "module_2.json").exists()
    assert not (tmp_path / "runs" / "t" / ".simba" / "layout").exists()


def test_a_traced_call_whose_row_was_not_committed_runs_again(
    write_scenario: Callable[..., Path], simba_cli: Cli, tmp_path: Path
) -> None:
    """Rows are committed in batches, so a killed driver's trace may name calls whose rows
    it never committed: the resumed run runs those calls again, with the same result."""
    ticks = 1500
    scenario = write_scenario(peers(tmp_path / "whole.log"), driver(ticks), name="whole")
    assert simba_cli("run", scenario, "-o", "runs", "--run-id", "whole").returncode == 0
    log = tmp_path / "killed.log"
    scenario = write_scenario(peers(log), driver(ticks), name="killed")
    run_dir = tmp_path / "runs" / "killed"
    command = ["run", scenario, "-o", "runs", "--run-id", "killed"]
    lost: list[dict[str, Any]] = []
    for _ in range(5):  # a checkpoint written just before the kill leaves nothing after it
        process = launch(*command, cwd=tmp_path)
        wait_for(run_dir / ".simba" / "checkpoint.json", process)
        while process.poll() is None and not (
            committed_documents(run_dir) and len(traced_after_checkpoint(run_dir)) >= 20
        ):
            time.sleep(0.02)
        process.kill()
        process.communicate()
        checkpoint = json.loads((run_dir / ".simba" / "checkpoint.json").read_text())
        assert checkpoint["position"]["mode"] != "done", "the run ended before the kill"
        after = traced_after_checkpoint(run_dir)
        lost = after[len(after) // 2 :]  # as if not committed yet
        if lost:
            break
        command = ["run", "--resume", run_dir]
    assert lost
    with sqlite3.connect(run_dir / ".simba" / "run.db") as db:  # (some were not committed)
        db.executemany(
            "DELETE FROM documents WHERE module = ? AND mode = ? AND tick = ?",
            [(r["module"], r["mode"], r["tick"]) for r in lost],
        )
    resumed = simba_cli("run", "--resume", run_dir)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert final_state(run_dir) == final_state(tmp_path / "runs" / "whole")
    executed = Counter(tuple(line.split()[2:]) for line in log.read_text().splitlines())
    again = Counter((r["mode"], str(r["tick"])) for r in lost)
    for call, times in again.items():  # A and B each once, and the lost ones once more
        assert executed[call] >= 2 + times, call
    exported = [simba_cli("export", d).stdout for d in (run_dir, tmp_path / "runs" / "whole")]
    assert exported[0] == exported[1]


def committed_documents(run_dir: Path) -> int:
    """The documents rows a reader sees now (0 before the table's first commit)."""
    try:
        with sqlite3.connect(f"file:{run_dir / '.simba' / 'run.db'}?mode=ro", uri=True) as db:
            return int(db.execute("SELECT count(*) FROM documents").fetchone()[0])
    except sqlite3.OperationalError:
        return 0


def traced_after_checkpoint(run_dir: Path) -> list[dict[str, Any]]:
    """The trace's records after the checkpoint's offset (complete lines only)."""
    meta = run_dir / ".simba"
    offset = json.loads((meta / "checkpoint.json").read_text())["traceOffset"]
    data = (meta / "trace.jsonl").read_bytes()[offset:]
    return [json.loads(line) for line in data.splitlines(keepends=True) if line.endswith(b"\n")]
