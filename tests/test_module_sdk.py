"""The module SDK (simba.module.Module), exercised by a real module written with it."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import MODULES, SMALL_DRIVER, run_cli

from simba.engine.journal import read_trace

COUNTER = str(MODULES / "sdk_counter.py")

Cli = Callable[..., subprocess.CompletedProcess[str]]


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def counter_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A successful run of sdk_counter.py over ticks 0..3, with what it logged."""
    tmp_path = tmp_path_factory.mktemp("sdk")
    log = tmp_path / "sdk.jsonl"
    scenario = tmp_path / "scenario.json"
    document = {
        "driver": SMALL_DRIVER,
        "commonData": {"total": 0, "other": "same"},
        "schedule": [
            {
                "name": "counter",
                "priority": 1,
                "command": COUNTER,
                "updateCommonData": True,
                "moduleData": {"log": str(log)},
            }
        ],
    }
    scenario.write_text(json.dumps(document))
    result = run_cli("run", scenario, "-o", tmp_path / "runs", "--run-id", "r", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    return {"result": result, "log": lines(log), "run_dir": tmp_path / "runs" / "r"}


def test_methods_match_modes(counter_run: dict[str, Any]) -> None:
    """start, step and end are called for the matching modes, end included."""
    called = [(e["method"], e["mode"]) for e in counter_run["log"]]
    assert called == [
        ("start", "start"),
        ("step", "step"),
        ("step", "step"),
        ("step", "step"),
        ("end", "end"),
    ]


def test_typed_fields(counter_run: dict[str, Any]) -> None:
    """Times are datetimes, lastRunTick 0 is kept, and step_seconds is the step's length."""
    start, first_step, *_, end = counter_run["log"]
    assert start["currentTimeType"] == "datetime"
    assert start["lastRunTick"] is None
    assert start["lastRunTimeType"] == "NoneType"
    assert start["targetTimeType"] == "NoneType"
    assert start["outputDirectoryType"] == "PosixPath"
    assert first_step["lastRunTick"] == 0
    assert first_step["lastRunTimeType"] == "datetime"
    assert first_step["targetTick"] == 1
    assert first_step["targetTimeType"] == "datetime"
    assert first_step["stepSeconds"] == 86400
    assert end["lastRunTick"] == 2
    assert end["currentTime"] == "2024-01-04T00:00:00"
    assert end["stepSeconds"] == 0


def test_status_holds_only_changes(counter_run: dict[str, Any]) -> None:
    """The status returns only changed commonData keys, and moduleData only when it changed."""
    run_dir: Path = counter_run["run_dir"]
    start = json.loads((run_dir / "0" / "status_1.json").read_text())
    assert start == {
        "status": "success",
        "moduleData": {"log": start["moduleData"]["log"], "count": 0},
    }
    step = json.loads((run_dir / "2" / "status_1.json").read_text())
    assert step["commonData"] == {"total": 2}
    assert step["moduleData"]["count"] == 2
    end = json.loads((run_dir / "end" / "status_1.json").read_text())
    assert "commonData" not in end
    assert end["moduleData"]["ended"] is True
    summary = json.loads((run_dir / ".simba" / "summary.json").read_text())
    assert summary["commonData"] == {"total": 3, "other": "same"}
    assert summary["modules"]["counter"]["moduleData"]["count"] == 3


def test_info_lines_reach_the_driver(counter_run: dict[str, Any]) -> None:
    """ctx.info() lines appear in the driver's output with the module's name."""
    out = counter_run["result"].stdout
    assert "[counter] INFO: count is 1" in out
    assert "[counter] INFO: count is 3" in out


def test_exception_fails_the_call(
    write_scenario: Callable[..., Path], simba_cli: Cli, tmp_path: Path
) -> None:
    """An exception in step writes status fail with its message, exits 1 and stops the run."""
    log = tmp_path / "sdk.jsonl"
    scenario = write_scenario(
        [
            {
                "name": "counter",
                "priority": 1,
                "command": COUNTER,
                "moduleData": {"log": str(log), "raiseAt": 1},
            }
        ]
    )
    result = simba_cli("run", scenario, "-o", tmp_path / "runs", "--run-id", "r")
    assert result.returncode == 1
    assert "module 'counter' (step at tick 1)" in result.stderr
    assert "ValueError: boom at 1" in result.stderr
    run_dir = tmp_path / "runs" / "r"
    status = json.loads((run_dir / "2" / "status_1.json").read_text())
    assert status == {"status": "fail", "message": "ValueError: boom at 1"}
    trace = read_trace(run_dir / ".simba" / "trace.jsonl")
    assert (trace[-1]["outcome"], trace[-1]["exitCode"]) == ("exit", 1)
    assert "Traceback" in (run_dir / "2" / "stderr_1").read_text()


def _config(tmp_path: Path, **fields: Any) -> Path:
    document = {
        "mode": "step",
        "statusFile": str(tmp_path / "status.json"),
        "outputDirectory": str(tmp_path),
        "tickFormat": "{:02d}",
        "currentTick": 0,
        "currentTime": "2024-01-01T00:00:00+00:00",
        "lastRunTick": 0,
        "lastRunTime": "2024-01-01T00:00:00+00:00",
        "targetTick": 1,
        "targetTime": "2024-01-01T06:00:00+00:00",
        **fields,
    }
    path = tmp_path / "module_1.json"
    path.write_text(json.dumps(document))
    return path


def _run_module(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, COUNTER, str(config)], capture_output=True, text=True, check=False
    )


def test_standalone_step(tmp_path: Path) -> None:
    """Run by hand on a config file, the module steps and writes a success status."""
    log = tmp_path / "log.jsonl"
    config = _config(
        tmp_path, commonData={"total": 5, "x": [1]}, moduleData={"log": str(log), "count": 5}
    )
    result = _run_module(config)
    assert result.returncode == 0, result.stderr
    status = json.loads((tmp_path / "status.json").read_text())
    assert status == {
        "status": "success",
        "commonData": {"total": 6},
        "moduleData": {"log": str(log), "count": 6},
    }
    (entry,) = lines(log)
    assert entry["lastRunTick"] == 0
    assert entry["stepSeconds"] == 6 * 3600
    assert result.stdout == "INFO: count is 6\n"


def test_standalone_unchanged_module_data_not_returned(tmp_path: Path) -> None:
    """A call that changes neither commonData nor moduleData returns the bare status."""
    log = tmp_path / "log.jsonl"
    config = _config(
        tmp_path,
        mode="end",
        currentTick=4,
        targetTick=None,
        moduleData={"log": str(log), "ended": True},
    )
    document = json.loads(config.read_text())
    del document["targetTick"], document["targetTime"]
    config.write_text(json.dumps(document))
    result = _run_module(config)
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "status.json").read_text()) == {"status": "success"}


def test_standalone_without_argument() -> None:
    """Started without a config path, the module prints its usage and exits 2."""
    result = subprocess.run([sys.executable, COUNTER], capture_output=True, text=True, check=False)
    assert result.returncode == 2
    assert "usage" in result.stderr
