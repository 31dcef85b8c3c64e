"""Sweeps under stress: two drivers at once, a driver killed with SIGKILL, hostile files.

Real ``python -m simba sweep`` processes whose cells run a small sh module that sleeps
in each call (so that cells are still running when the test acts).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import EXAMPLES, launch, process_gone, run_cli, run_simba_measured, wait_for

Writer = Callable[..., Path]
Launcher = Callable[..., subprocess.Popen[str]]


@pytest.fixture
def start_sweep(tmp_path: Path) -> Iterator[Launcher]:
    """Start ``simba sweep ARGS`` processes; whatever is left of them is killed afterwards."""
    started: list[subprocess.Popen[str]] = []

    def start(*args: str | os.PathLike[str]) -> subprocess.Popen[str]:
        started.append(launch("sweep", *args, cwd=tmp_path))
        return started[-1]

    yield start
    for process in started:
        if process.returncode is None:
            process.kill()
            process.communicate()
    for pid in cell_processes(tmp_path / "out" / "robust"):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def sleepy_sweep(write_scenario: Writer, tmp_path: Path, *, cells: int, sleep: float) -> Path:
    """A sweep of ``cells`` cells whose module sleeps ``sleep`` seconds in every call."""
    module = tmp_path / "sleepy.sh"
    module.write_text(
        "#!/bin/sh\n"
        'status=$(sed -n \'s/^ *"statusFile": "\\(.*\\)",$/\\1/p\' "$1")\n'
        f"sleep {sleep}\n"
        'printf \'{"status": "success"}\\n\' > "$status"\n'
    )
    module.chmod(0o755)
    scenario = write_scenario(
        {
            "schedule": [{"name": "m", "priority": 1, "command": str(module)}],
            "commonData": {"level": 0},
        },
        name="base",
    )
    document = {
        "scenario": str(scenario),
        "runId": "robust",
        "outputDirectory": str(tmp_path / "out"),
        "cells": [{"id": f"c{n}", "commonData": {"level": n}} for n in range(cells)],
    }
    path = tmp_path / "sweep.json"
    path.write_text(json.dumps(document))
    return path


def summary(directory: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((directory / "sweep-summary.json").read_text())
    return document


def cell_processes(directory: Path) -> list[int]:
    """Live processes marked as cells (or their modules) of the sweep in ``directory``."""
    marker = f"SIMBA_SWEEP_DIR={directory}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            marked = marker in (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if marked and not process_gone(int(entry.name)):
            found.append(int(entry.name))
    return found


# -- one driver at a time ---------------------------------------------------------------------


def test_a_second_sweep_on_a_running_sweep_is_refused(
    write_scenario: Writer, tmp_path: Path, start_sweep: Launcher
) -> None:
    """While a sweep runs, --resume and --overwrite of it exit 2 naming its process; it succeeds."""
    sweep = sleepy_sweep(write_scenario, tmp_path, cells=2, sleep=0.3)
    directory = tmp_path / "out" / "robust"
    first = start_sweep(sweep, "-j", "2")
    wait_for(directory / ".sweep" / "sweep.json", first)
    for flag in ("--resume", "--overwrite"):
        second = run_cli("sweep", sweep, flag, cwd=tmp_path)
        assert second.returncode == 2, second.stderr
        assert "is in use by another simba sweep" in second.stderr
        assert f"(process {first.pid})" in second.stderr
        assert "Traceback" not in second.stderr
    _, errors = first.communicate(timeout=120)
    assert first.returncode == 0, errors
    document = summary(directory)
    assert document["counts"] == {"success": 2}


def test_two_overwriting_sweeps_started_at_once_leave_one_correct_summary(
    write_scenario: Writer, tmp_path: Path, start_sweep: Launcher
) -> None:
    """Of two --overwrite sweeps of one directory started together, one runs every cell and
    the other exits 2: the summary counts every cell a success."""
    sweep = sleepy_sweep(write_scenario, tmp_path, cells=4, sleep=0.05)
    assert run_cli("sweep", sweep, cwd=tmp_path).returncode == 0
    drivers = [start_sweep(sweep, "-j", "2", "--overwrite") for _ in range(2)]
    outcomes = [(driver.wait(timeout=120), driver.communicate()[1]) for driver in drivers]
    assert sorted(code for code, _ in outcomes) == [0, 2], outcomes
    refused = next(errors for code, errors in outcomes if code == 2)
    assert "in use by another simba sweep" in refused or "just created by another" in refused
    assert "Traceback" not in refused
    document = summary(tmp_path / "out" / "robust")
    assert document["counts"] == {"success": 4}
    assert all(cell["ran"] for cell in document["cells"])


# -- after a driver killed with SIGKILL -------------------------------------------------------


def test_resume_after_kill_stops_leftover_cells_and_appends_to_their_logs(
    write_scenario: Writer, tmp_path: Path, start_sweep: Launcher
) -> None:
    """After kill -9 of a sweep, --resume stops its still-running cells first, then every cell
    succeeds and each cell's log keeps the first attempt's output."""
    sweep = sleepy_sweep(write_scenario, tmp_path, cells=3, sleep=0.5)
    directory = tmp_path / "out" / "robust"
    driver = start_sweep(sweep, "-j", "3")
    for cell in ("c0", "c1", "c2"):
        wait_for(directory / cell / ".simba" / "checkpoint.json", driver)
    os.kill(driver.pid, signal.SIGKILL)
    driver.communicate()
    leftovers = cell_processes(directory)
    assert leftovers, "the killed sweep's cells should still be running"
    resumed = run_cli("sweep", sweep, "--resume", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert all(process_gone(pid) for pid in leftovers)
    document = summary(directory)
    assert document["counts"] == {"success": 3}
    assert [cell["ran"] for cell in document["cells"]] == [True, True, True]
    for cell in ("c0", "c1", "c2"):
        log = (directory / ".sweep" / f"{cell}.log").read_text()
        started, resumed_at = log.find(f"cell {cell} started"), log.find(f"cell {cell} resumed")
        assert 0 <= started < resumed_at, log
        first = log[:resumed_at]  # the first attempt's output
        assert f"run {cell}: " in first and "\nticks 0..3 (" in first
    assert cell_processes(directory) == []


def test_overwrite_after_kill_stops_leftover_cells_before_deleting(
    write_scenario: Writer, tmp_path: Path, start_sweep: Launcher
) -> None:
    """--overwrite of a sweep whose driver was killed stops its cells, then runs afresh."""
    sweep = sleepy_sweep(write_scenario, tmp_path, cells=2, sleep=0.5)
    directory = tmp_path / "out" / "robust"
    driver = start_sweep(sweep, "-j", "2")
    for cell in ("c0", "c1"):
        wait_for(directory / cell / ".simba" / "checkpoint.json", driver)
    os.kill(driver.pid, signal.SIGKILL)
    driver.communicate()
    leftovers = cell_processes(directory)
    assert leftovers
    again = run_cli("sweep", sweep, "--overwrite", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert all(process_gone(pid) for pid in leftovers)
    assert summary(directory)["counts"] == {"success": 2}
    log = (directory / ".sweep" / "c0.log").read_text()
    assert log.count("cell c0 started") == 1  # a new sweep: the old directory went


# -- hostile sweep files ----------------------------------------------------------------------


def test_a_huge_grid_is_refused_before_it_is_built(tmp_path: Path) -> None:
    """A 15 KB grid of 1000**3 cells exits 2 at once in little memory, naming file and count."""
    document = json.loads((EXAMPLES / "sweep" / "sweep.json").read_text())
    document["scenario"] = str(EXAMPLES / "sweep" / "scenario")
    document["grid"] = {
        "commonData": {"beta": list(range(1000)), "gamma": list(range(1000))},
        "moduleData": {"sir": {"vaccinated": list(range(1000))}},
    }
    path = tmp_path / "huge.json"
    path.write_text(json.dumps(document))
    started = time.monotonic()
    code, peak_mb = run_simba_measured("sweep", path, cwd=tmp_path)
    assert code == 2
    assert time.monotonic() - started < 30 and peak_mb < 200, peak_mb
    result = run_cli("sweep", path, cwd=tmp_path)
    assert result.returncode == 2
    assert f"{path}: grid: the sweep has 1,000,000,000 cells" in result.stderr
    assert "at most 100,000" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "runs").exists()


def test_a_list_of_more_than_100000_cells_is_refused_at_once(
    write_scenario: Writer, tmp_path: Path
) -> None:
    """A 'cells' list of 100,001 entries exits 2 within seconds, naming the file and the count."""
    sweep = sleepy_sweep(write_scenario, tmp_path, cells=1, sleep=0)
    document = json.loads(sweep.read_text())
    document["cells"] = [{}] * 100_001
    sweep.write_text(json.dumps(document))
    started = time.monotonic()
    result = run_cli("sweep", sweep, cwd=tmp_path)
    assert result.returncode == 2
    assert time.monotonic() - started < 10
    assert f"{sweep}: cells: the sweep has 100,001 cells; at most 100,000" in result.stderr
    assert not (tmp_path / "out").exists()


def test_a_cell_id_that_names_the_sweep_summary_is_refused(
    write_scenario: Writer, tmp_path: Path
) -> None:
    """A cell id 'sweep-summary.json' (in any case) would collide with the summary: exit 2."""
    sweep = sleepy_sweep(write_scenario, tmp_path, cells=1, sleep=0)
    document = json.loads(sweep.read_text())
    document["cells"] += [{"id": "sweep-summary.json"}, {"id": "SWEEP-summary.JSON"}]
    sweep.write_text(json.dumps(document))
    result = run_cli("sweep", sweep, cwd=tmp_path)
    assert result.returncode == 2
    assert "cells[1].id: the id 'sweep-summary.json' is the name of one of the sweep's own" in (
        result.stderr
    )
    assert "cells[2].id" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_a_cell_that_died_twice_is_reported_with_its_last_attempt_only(
    write_scenario: Writer, tmp_path: Path
) -> None:
    """A cell process killed before its summary fails with the tail of its latest attempt; the
    log keeps both attempts."""
    module = tmp_path / "parricide.sh"
    module.write_text("#!/bin/sh\nkill -9 $PPID\n")  # the cell's own simba process
    module.chmod(0o755)
    scenario = write_scenario([{"name": "m", "priority": 1, "command": str(module)}], name="base")
    sweep = tmp_path / "sweep.json"
    sweep.write_text(
        json.dumps(
            {
                "scenario": str(scenario),
                "runId": "robust",
                "outputDirectory": str(tmp_path / "out"),
                "cells": [{"id": "c0"}],
            }
        )
    )
    assert run_cli("sweep", sweep, cwd=tmp_path).returncode == 1
    again = run_cli("sweep", sweep, "--resume", cwd=tmp_path)
    assert again.returncode == 1, again.stderr
    directory = tmp_path / "out" / "robust"
    error = summary(directory)["cells"][0]["error"]
    assert error.startswith("the cell's process ended without a summary")
    assert "run c0: " in error and "\nticks 0..3 (" in error and "--- simba sweep" not in error
    log = (directory / ".sweep" / "c0.log").read_text()
    assert log.count("--- simba sweep: cell c0") == 2
