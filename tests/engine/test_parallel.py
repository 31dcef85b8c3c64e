"""Dependency mode with -j/--jobs: concurrent calls, yet the same documents and state as serial."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import MODULES
from hypothesis import given, settings
from hypothesis import strategies as st

from simba.engine import Engine, RunOptions, RunResult
from simba.engine.journal import read_trace
from simba.errors import ModuleError
from simba.scenario import load_scenario

HASH = str(MODULES / "res_hash.sh")
MEET = str(MODULES / "res_meet.sh")

#: Ticks 0..4: start at 0, steps while the tick is below 4, end at 4.
DRIVER = {
    "initialTime": "2024-01-01T00:00:00",
    "endTime": "2024-01-05T00:00:00",
    "scheduleIntervals": [{"tickDuration": "P1D"}],
}


def write(directory: Path, schedule: dict[str, Any], driver: dict[str, Any] = DRIVER) -> Path:
    directory.mkdir(parents=True)
    (directory / "driver.json").write_text(json.dumps(driver))
    (directory / "schedule.json").write_text(json.dumps(schedule))
    return directory


def run(scenario: Path, out: Path, jobs: int) -> RunResult:
    options = RunOptions(output_directory=out, run_id="run", jobs=jobs)
    return Engine(load_scenario(scenario), options).run()


def documents(run_dir: Path) -> dict[str, bytes]:
    """Every config and status file of a run, by its path in the run directory."""
    return {
        str(path.relative_to(run_dir)): path.read_bytes()
        for pattern in ("*/module_*.json", "*/status_*.json")
        for path in run_dir.glob(pattern)
        if not path.parent.is_symlink()  # start -> the initial tick's directory
    }


def final_state(run_dir: Path) -> dict[str, Any]:
    """What summary.json says about the outcome and state, without timings."""
    summary = json.loads((run_dir / ".simba" / "summary.json").read_text())
    modules = {
        name: {key: module[key] for key in ("calls", "failures", "lastRunTick", "moduleData")}
        for name, module in summary["modules"].items()
    }
    return {
        "outcome": summary["outcome"],
        "calls": summary["calls"],
        "commonData": summary["commonData"],
        "modules": modules,
    }


@st.composite
def dependency_schedules(draw: st.DrawFn) -> dict[str, Any]:
    """A schedule of 2-4 res_hash.sh modules, each with dependsOn (a random DAG, maybe empty)."""
    count = draw(st.integers(min_value=2, max_value=4))
    names = [f"m{i}" for i in range(count)]
    rank = draw(st.permutations(names))  # edges only go from earlier to later in this order
    priorities = draw(st.lists(st.integers(-5, 5), min_size=count, max_size=count, unique=True))
    schedule = []
    for name, priority in zip(names, priorities, strict=True):
        earlier = rank[: rank.index(name)]
        entry: dict[str, Any] = {
            "name": name,
            "priority": priority,
            "command": [HASH, name],
            "dependsOn": draw(st.lists(st.sampled_from(earlier), unique=True)) if earlier else [],
            "updateCommonData": draw(st.booleans()),
            "tickIncrement": draw(st.integers(min_value=0, max_value=3)),
        }
        if draw(st.booleans()):
            entry["startTick"] = draw(st.integers(min_value=0, max_value=2))
        if draw(st.integers(0, 2)) == 0:
            entry["type"] = "resident"
        schedule.append(entry)
    common = {name: None for name in names} | {"shared": "tick-start"}
    return {"commonData": common, "schedule": schedule}


@settings(max_examples=25, deadline=None)
@given(schedule=dependency_schedules())
def test_jobs_1_and_4_write_identical_documents_and_state(
    tmp_path_factory: pytest.TempPathFactory, schedule: dict[str, Any]
) -> None:
    """Random dependency schedules give byte-identical configs and final state at -j 1 and -j 4."""
    base = tmp_path_factory.mktemp("parallel")
    scenario = write(base / "scenario", schedule)
    out = base / "out"
    serial = run(scenario, out, jobs=1)
    (out / "run").rename(base / "serial")  # the next run writes the same paths into its configs
    concurrent = run(scenario, out, jobs=4)
    serial_documents = documents(base / "serial")
    assert len(serial_documents) == 2 * serial.calls
    assert documents(out / "run") == serial_documents
    assert final_state(out / "run") == final_state(base / "serial")
    assert (concurrent.common_data, concurrent.module_data) == (
        serial.common_data,
        serial.module_data,
    )


def gone(pid: int) -> bool:
    """Whether ``pid`` has ended (a zombie counts), allowing its reaper a moment."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return True
        if stat.rpartition(")")[2].split()[0] in ("Z", "X"):
            return True
        time.sleep(0.02)
    return False


def meet_entry(name: str, priority: int, meet_dir: Path, others: list[str]) -> dict[str, Any]:
    return {
        "name": name,
        "priority": priority,
        "command": [MEET, "meet", str(meet_dir), name, *others],
        "dependsOn": [],
        "tickIncrement": 0,
    }


def test_independent_calls_run_at_the_same_time(tmp_path: Path) -> None:
    """With -j 3, three independent calls run at once (each waits until it meets the others)."""
    names = ["a", "b", "c"]
    meet_dir = tmp_path / "meet"
    meet_dir.mkdir()
    schedule = [
        meet_entry(name, position, meet_dir, [other for other in names if other != name])
        for position, name in enumerate(names)
    ]
    scenario = write(tmp_path / "scenario", {"schedule": schedule})
    # start calls meet; the end calls meet again (the marker files are still there)
    result = run(scenario, tmp_path / "out", jobs=3)
    assert result.calls == 6


def test_jobs_1_never_overlaps_calls(tmp_path: Path) -> None:
    """With -j 1, independent calls in dependency mode still run one at a time."""
    lock_dir = tmp_path / "lock"
    lock_dir.mkdir()
    schedule = [
        {
            "name": name,
            "priority": position,
            "command": [MEET, "alone", str(lock_dir)],
            "dependsOn": [],
        }
        for position, name in enumerate(["a", "b", "c"])
    ]
    scenario = write(tmp_path / "scenario", {"schedule": schedule})
    result = run(scenario, tmp_path / "out", jobs=1)
    assert result.calls == 3 * 6  # start, 4 steps, end each


def test_failure_stops_the_calls_running_beside_it(tmp_path: Path) -> None:
    """When one concurrent call fails, the others of its batch are stopped and the run fails."""
    schedule = [
        {
            "name": "hang",
            "priority": 2,
            "command": str(MODULES / "hang_with_grandchild.sh"),
            "dependsOn": [],
        },
        {
            "name": "fail",
            "priority": 1,
            "command": str(MODULES / "exit3_after_grandchild.sh"),
            "dependsOn": [],
        },
        {"name": "later", "priority": 0, "command": str(MODULES / "ok.sh"), "dependsOn": ["fail"]},
    ]
    scenario = write(tmp_path / "scenario", {"schedule": schedule})
    with pytest.raises(ModuleError, match="exited with code 3") as caught:
        run(scenario, tmp_path / "out", jobs=4)
    assert caught.value.module == "fail"
    run_dir = tmp_path / "out" / "run"
    grandchild = int((run_dir / "0" / "grandchild.pid").read_text())
    assert gone(grandchild)
    trace = read_trace(run_dir / ".simba" / "trace.jsonl")
    assert [(r["module"], r["outcome"]) for r in trace] == [("fail", "exit")]
    assert not (run_dir / "0" / "module_3.json").exists()  # 'later' never started
    summary = json.loads((run_dir / ".simba" / "summary.json").read_text())
    assert summary["outcome"] == "failed"
    assert summary["calls"] == 0
