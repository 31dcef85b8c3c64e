"""The resident runner with real processes: one process per module, calls over stdin, DONE:."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
from conftest import MODULES, SMALL_DRIVER

from simba.engine import Engine, RunOptions
from simba.engine.journal import read_trace
from simba.errors import ModuleError, ModuleTimeoutError, StatusFileError
from simba.events import Event, ModuleLine, Observer
from simba.runners.base import CallRequest
from simba.runners.resident import ResidentRunner
from simba.scenario import load_scenario

COUNTER = str(MODULES / "res_counter.sh")

Cli = Callable[..., subprocess.CompletedProcess[str]]


def resident(command: str | list[str], **fields: Any) -> dict[str, Any]:
    """A schedule entry for a resident module named 'm' that may update commonData 'calls'."""
    return {
        "name": "m",
        "priority": 1,
        "type": "resident",
        "command": command,
        "updateCommonData": True,
        **fields,
    }


def scenario_of(
    write_scenario: Callable[..., Path],
    *entries: dict[str, Any],
    common: dict[str, Any] | None = None,
) -> Path:
    """A scenario over ticks 0..3 (start, steps 0-2, end) with commonData 'calls' and 'total'."""
    return write_scenario(
        {"commonData": common or {"calls": 0, "total": 0}, "schedule": list(entries)}
    )


def log_lines(log: Path) -> list[list[str]]:
    return [line.split() for line in log.read_text().splitlines()]


def summary_of(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / ".simba" / "summary.json").read_text())


def gone(pid: int) -> bool:
    """Whether no process with ``pid`` exists any more (reaped, not a zombie)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def run_engine(scenario: Path, out: Path, observers: Iterable[Observer] = ()) -> Path:
    """Run ``scenario`` in-process (its modules are real processes); the run directory."""
    Engine(load_scenario(scenario), RunOptions(output_directory=out, run_id="run"), observers).run()
    return out / "run"


def test_one_process_serves_every_call_and_exits_at_stdin_close(
    write_scenario: Callable[..., Path], simba_cli: Cli, tmp_path: Path
) -> None:
    """A resident module gets every call in one process, sees EOF after end, and is gone."""
    log = tmp_path / "res.log"
    scenario = scenario_of(write_scenario, resident(COUNTER, env={"RES_LOG": str(log)}))
    result = simba_cli("run", scenario, "-o", tmp_path / "runs", "--run-id", "r")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = log_lines(log)
    pids = {line[0] for line in lines}
    assert len(pids) == 1
    assert [line[1:] for line in lines] == [
        ["start", "0"],
        ["step", "0"],
        ["step", "1"],
        ["step", "2"],
        ["end", "3"],
        ["eof"],
    ]
    assert gone(int(pids.pop()))
    summary = summary_of(tmp_path / "runs" / "r")
    assert summary["outcome"] == "success"
    assert summary["commonData"]["calls"] == 5
    assert summary["modules"]["m"]["calls"] == 5


def test_call_output_goes_to_the_calls_files_and_info_error_lines_are_events(
    write_scenario: Callable[..., Path], tmp_path: Path
) -> None:
    """INFO:/ERROR: lines of a resident call are events of that tick and land in its stdout file."""
    log = tmp_path / "res.log"
    events: list[Event] = []
    scenario = scenario_of(write_scenario, resident(COUNTER, env={"RES_LOG": str(log)}))
    run_dir = run_engine(scenario, tmp_path / "runs", [events.append])
    lines = [(e.tick, e.level, e.text) for e in events if isinstance(e, ModuleLine)]
    assert (1, "INFO", "call 3 is step at tick 1") in lines
    assert (1, "ERROR", "nothing wrong at tick 1, just testing") in lines
    assert [level for tick, level, _ in lines if tick == 1] == ["INFO", "ERROR"]
    assert len(lines) == 10  # two per call, each reported once
    stdout = (run_dir / "2" / "stdout_1").read_text()  # the step at tick 1 writes into 2/
    assert "INFO: call 3 is step at tick 1" in stdout
    assert "tick 2" not in stdout
    assert "DONE:" not in stdout  # the answer is protocol, not output


def test_crash_mid_run_fails_the_call_and_stops_the_run(
    write_scenario: Callable[..., Path], simba_cli: Cli, tmp_path: Path
) -> None:
    """A resident module that exits before answering fails its call: exit 1, no later calls."""
    log = tmp_path / "res.log"
    entry = resident([COUNTER, "crash", "1"], env={"RES_LOG": str(log)})
    result = simba_cli("run", scenario_of(write_scenario, entry), "-o", tmp_path / "runs")
    assert result.returncode == 1
    output = result.stdout + result.stderr
    assert "module 'm' (step at tick 1)" in output
    assert "exited with code 3 before answering" in output
    assert "res_counter: crashing at tick 1" in output  # the last lines of its stderr
    lines = log_lines(log)
    assert [line[1:] for line in lines] == [["start", "0"], ["step", "0"], ["step", "1"]]
    assert gone(int(lines[0][0]))
    (run_dir,) = (tmp_path / "runs").iterdir()
    summary = summary_of(run_dir)
    assert summary["outcome"] == "failed"
    assert summary["calls"] == 2


def test_module_that_never_answers_times_out_and_is_killed(
    write_scenario: Callable[..., Path], tmp_path: Path
) -> None:
    """A resident call without a DONE: answer within its timeout fails and its process is killed."""
    scenario = scenario_of(write_scenario, resident(str(MODULES / "res_silent.sh"), timeout=0.5))
    with pytest.raises(
        ModuleTimeoutError, match=r"ran longer than its timeout of 0\.5 s"
    ) as caught:
        run_engine(scenario, tmp_path / "runs")
    assert caught.value.module == "m"
    assert caught.value.tick == 0
    pid = int((tmp_path / "runs" / "run" / "0" / "pid").read_text())
    assert gone(pid)
    trace = read_trace(tmp_path / "runs" / "run" / ".simba" / "trace.jsonl")
    assert [(r["mode"], r["outcome"]) for r in trace] == [("start", "timeout")]


def test_wrong_done_path_fails_the_call(
    write_scenario: Callable[..., Path], tmp_path: Path
) -> None:
    """An answer naming another config path than the one sent fails the call, naming both."""
    scenario = scenario_of(write_scenario, resident(str(MODULES / "res_wrong.sh")))
    with pytest.raises(ModuleError) as caught:
        run_engine(scenario, tmp_path / "runs")
    config = tmp_path / "runs" / "run" / "0" / "module_1.json"
    message = str(caught.value)
    assert f"answered 'DONE: /elsewhere{config}' instead of 'DONE: {config}'" in message
    assert not isinstance(caught.value, (ModuleTimeoutError, StatusFileError))
    assert caught.value.mode == "start"


def test_retry_after_a_wrong_answer_gets_a_new_process(
    write_scenario: Callable[..., Path], tmp_path: Path
) -> None:
    """A process that answered with the wrong path is ended; the retry talks to a new one."""
    log = tmp_path / "pids.log"
    entry = resident(str(MODULES / "res_wrong.sh"), retries=1, env={"RES_LOG": str(log)})
    with pytest.raises(ModuleError, match="answered 'DONE: /elsewhere"):
        run_engine(scenario_of(write_scenario, entry), tmp_path / "runs")
    first, second = log.read_text().split()
    assert first != second
    assert gone(int(first))
    assert gone(int(second))


def test_retry_restarts_the_process(
    write_scenario: Callable[..., Path], simba_cli: Cli, tmp_path: Path
) -> None:
    """After a crash, a retry runs the call again in a new process, which serves the rest."""
    log = tmp_path / "res.log"
    once = tmp_path / "crashed-once"
    entry = resident([COUNTER, "crash", "1", str(once)], retries=1, env={"RES_LOG": str(log)})
    result = simba_cli("run", scenario_of(write_scenario, entry), "-o", tmp_path / "runs")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = log_lines(log)
    assert [line[1:] for line in lines] == [
        ["start", "0"],
        ["step", "0"],
        ["step", "1"],  # crashed here
        ["step", "1"],  # the retry, in a new process
        ["step", "2"],
        ["end", "3"],
        ["eof"],
    ]
    first, second = lines[0][0], lines[3][0]
    assert first != second
    assert {line[0] for line in lines[:3]} == {first}
    assert {line[0] for line in lines[3:]} == {second}
    assert gone(int(first))
    assert gone(int(second))
    (run_dir,) = (tmp_path / "runs").iterdir()
    trace = read_trace(run_dir / ".simba" / "trace.jsonl")
    assert [(r["tick"], r["attempt"], r["outcome"]) for r in trace if r["mode"] == "step"] == [
        (0, 1, "success"),
        (1, 1, "error"),
        (1, 2, "success"),
        (2, 1, "success"),
    ]
    # the new process counts its calls from 1 again: start, step 0 came from the first
    assert summary_of(run_dir)["commonData"]["calls"] == 3


def test_shutdown_stops_a_module_that_ignores_stdin_closing(tmp_path: Path) -> None:
    """shutdown() closes stdin, waits the grace period, then stops a module still running."""
    pid_file = tmp_path / "deaf.pid"
    scenario = tmp_path / "scenario"
    scenario.mkdir()
    (scenario / "driver.json").write_text(json.dumps(SMALL_DRIVER))
    entry = resident(str(MODULES / "res_deaf.sh"), env={"RES_PID_FILE": str(pid_file)})
    (scenario / "schedule.json").write_text(json.dumps({"schedule": [entry]}))
    module = load_scenario(scenario).modules[0]
    config = tmp_path / "module_1.json"
    document = {"mode": "start", "statusFile": str(tmp_path / "status_1.json"), "currentTick": 0}
    config.write_text(json.dumps(document, indent=2))
    runner = ResidentRunner(lambda spec: {**os.environ, **spec.env}, grace_period=0.3)
    with runner:
        result = runner.run(
            CallRequest(
                module=module,
                config_path=config,
                stdout_path=tmp_path / "stdout_1",
                stderr_path=tmp_path / "stderr_1",
                timeout=10,
            )
        )
        assert result.exit_code == 0
        assert result.error is None
        assert json.loads((tmp_path / "status_1.json").read_text()) == {"status": "success"}
        pid = int(pid_file.read_text())
        assert not gone(pid)
    assert gone(pid)


def test_sdk_module_runs_unchanged_as_local_and_as_resident(
    write_scenario: Callable[..., Path], tmp_path: Path
) -> None:
    """One SDK class gives the same final state one-shot and resident (then in one process)."""
    outcomes = {}
    for kind in ("local", "resident"):
        log = tmp_path / f"{kind}.log"
        entry = resident(str(MODULES / "res_sdk.py"), type=kind, env={"RES_LOG": str(log)})
        run_dir = run_engine(scenario_of(write_scenario, entry), tmp_path / kind)
        summary = summary_of(run_dir)
        outcomes[kind] = (summary["commonData"], summary["modules"]["m"]["moduleData"])
        lines = log_lines(log)
        assert [line[2:] for line in lines] == [
            ["start", "0"],
            ["step", "0"],
            ["step", "1"],
            ["step", "2"],
            ["end", "3"],
        ]
        pids, handled = [line[0] for line in lines], [line[1] for line in lines]
        if kind == "local":
            assert len(set(pids)) == 5
            assert handled == ["1"] * 5
        else:
            assert len(set(pids)) == 1
            assert handled == ["1", "2", "3", "4", "5"]
            assert gone(int(pids[0]))
            assert not list(run_dir.glob("*/stdout_1"))  # only answers: no output files
    assert outcomes["local"] == outcomes["resident"]
    assert outcomes["resident"] == ({"calls": 0, "total": 3}, {"count": 3, "ended": True})
