"""Differences from the reference driver that users meet (docs/compatibility.rst).

Both reference versions (PyPI ``simbaDriver`` 1.0.0 and git HEAD 617f642) behave the
same way in each of these; SIMBA does what their documentation describes.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

from conftest import MODULES, SMALL_DRIVER

Cli = Callable[..., subprocess.CompletedProcess[str]]
Writer = Callable[..., Path]

OK = str(MODULES / "ok.sh")


def test_target_tick_is_the_next_call_of_the_module(
    write_scenario: Writer, simba_cli: Cli, tmp_path: Path
) -> None:
    """With tickIncrement 3 a step targets the tick 3 ahead (the reference: always 1 ahead)."""
    driver = {**SMALL_DRIVER, "endTime": "2024-01-07T00:00:00"}  # ticks 0..6
    scenario = write_scenario([{"name": "a", "priority": 1, "command": OK, "tickIncrement": 3}])
    scenario.joinpath("driver.json").write_text(json.dumps(driver))
    result = simba_cli("run", scenario, "-o", tmp_path / "out", "--run-id", "r")
    assert result.returncode == 0, result.stderr
    run_dir = tmp_path / "out" / "r"
    steps = [json.loads((run_dir / d / "module_1.json").read_text()) for d in ("1", "4")]
    assert [(s["currentTick"], s["targetTick"]) for s in steps] == [(0, 3), (3, 6)]
    assert [s["targetTime"] for s in steps] == ["2024-01-04T00:00:00", "2024-01-07T00:00:00"]


def test_a_gap_between_intervals_is_refused(write_scenario: Writer, simba_cli: Cli) -> None:
    """An interval starting after the tick where the previous one ended is a config error
    (the reference silently skips the ticks in between)."""
    driver = {
        "initialTime": "2024-01-01T00:00:00",
        "endTime": "2024-01-02T00:00:00",
        "scheduleIntervals": [
            {"endTick": 2, "tickDuration": "PT1H"},
            {"startTick": 5, "tickDuration": "PT1H"},
        ],
    }
    scenario = write_scenario([{"name": "a", "priority": 1, "command": OK}], driver)
    result = simba_cli("validate", scenario)
    assert result.returncode == 2
    assert "scheduleIntervals[1].startTick" in result.stderr
    assert "gap" in result.stderr


def test_no_empty_output_files_and_no_unused_tick_directories(
    write_scenario: Writer, simba_cli: Cli, tmp_path: Path
) -> None:
    """A quiet module leaves no empty stdout_/stderr_ files, and a tick without calls no
    directory (the reference makes every tick directory and both files for every call)."""
    scenario = write_scenario(
        [{"name": "quiet", "priority": 1, "command": OK, "tickIncrement": 2}],
        {**SMALL_DRIVER, "endTime": "2024-01-06T00:00:00"},  # ticks 0..5
    )
    result = simba_cli("run", scenario, "-o", tmp_path / "out", "--run-id", "r")
    assert result.returncode == 0, result.stderr
    run_dir = tmp_path / "out" / "r"
    assert sorted(p.name for p in run_dir.iterdir()) == [
        ".simba",
        "0",
        "1",
        "3",
        "5",
        "end",
        "start",
    ]
    files = sorted(p.name for p in run_dir.glob("[0-9e]*/*"))
    assert not [name for name in files if name.startswith(("stdout_", "stderr_"))]
    assert set(files) == {"module_1.json", "status_1.json"}


def test_one_interval_that_reaches_end_time_runs(write_scenario: Writer, simba_cli: Cli) -> None:
    """A single interval up to endTime: ticks 0..3 (PyPI 1.0.0 refuses it: "endTime will
    never be reached", one tick short)."""
    scenario = write_scenario([{"name": "a", "priority": 1, "command": OK}], SMALL_DRIVER)
    result = simba_cli("run", scenario, "--run-id", "r", "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["initialTick"], summary["finalTick"], summary["calls"]) == (0, 3, 5)


def test_unknown_status_keys_are_warned_about_once_per_module(
    write_scenario: Writer, simba_cli: Cli, tmp_path: Path
) -> None:
    """A status key SIMBA does not read ("mesage") is named once per module, not per call
    (the reference ignores it silently); "$", "x-" and "_" keys are the module's own."""
    module = tmp_path / "typo.sh"
    module.write_text(
        "#!/bin/sh\n"
        'status=$(sed -n \'s/^ *"statusFile": "\\(.*\\)",\\{0,1\\}$/\\1/p\' "$1")\n'
        'printf \'{"status": "success", "mesage": "hi", "x-note": 1, "_own": 2}\\n\' >"$status"\n'
    )
    module.chmod(0o755)
    scenario = write_scenario(
        [
            {"name": "a", "priority": 2, "command": str(module)},
            {"name": "b", "priority": 1, "command": str(module)},
        ]
    )
    result = simba_cli("run", scenario, "-o", tmp_path / "out", "--run-id", "r")
    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    warnings = [line for line in output.splitlines() if "which SIMBA does not know" in line]
    assert len(warnings) == 2, output
    assert all("'mesage'" in line and "x-note" not in line for line in warnings)
