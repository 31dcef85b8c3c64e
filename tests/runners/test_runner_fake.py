"""The in-memory FakeRunner, and fast engine tests that use it instead of module processes."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from simba.engine import Engine, RunOptions, RunResult
from simba.errors import ModuleError
from simba.runners.base import CallRequest, CallResult
from simba.runners.fake import Answer, FakeRunner
from simba.scenario import load_scenario

WriteScenario = Callable[..., Path]


def spec(name: str, priority: float, **fields: Any) -> dict[str, Any]:
    """A schedule entry whose command is never run (the fake answers for it)."""
    return {"name": name, "priority": priority, "command": "true", **fields}


def run(scenario: Path, tmp_path: Path, runner: FakeRunner) -> RunResult:
    options = RunOptions(output_directory=tmp_path / "runs", run_id="r")
    return Engine(load_scenario(scenario), options, runner=runner).run()


def test_three_modules_are_called_in_priority_order_each_tick(
    write_scenario: WriteScenario, tmp_path: Path
) -> None:
    """start, one step per tick and end, each going through the modules by priority."""
    runner = FakeRunner()
    scenario = write_scenario([spec("c", 1), spec("a", 3), spec("b", 2)])
    result = run(scenario, tmp_path, runner)
    calls = [(call.mode, call.tick, call.module) for call in runner.calls]
    expected = [("start", 0, name) for name in "abc"]
    expected += [("step", tick, name) for tick in range(3) for name in "abc"]
    expected += [("end", 3, name) for name in "abc"]
    assert calls == expected
    assert result.calls == len(expected)


def test_common_data_of_an_updating_module_reaches_the_later_calls(
    write_scenario: WriteScenario, tmp_path: Path
) -> None:
    """commonData from an updateCommonData module is merged into every later config."""

    def handler(request: CallRequest, config: Mapping[str, Any]) -> Answer:
        if request.module.name == "writer" and config["mode"] == "step":
            tick = config["currentTick"]
            return {"status": "success", "commonData": {"x": tick + 1}}
        return {"status": "success"}

    runner = FakeRunner(handler)
    scenario = write_scenario(
        {
            "commonData": {"x": 0, "y": "init"},
            "schedule": [spec("writer", 2, updateCommonData=True), spec("reader", 1)],
        }
    )
    result = run(scenario, tmp_path, runner)
    seen = [
        (call.mode, call.tick, call.config["commonData"])
        for call in runner.calls
        if call.module == "reader"
    ]
    assert seen == [
        ("start", 0, {"x": 0, "y": "init"}),
        ("step", 0, {"x": 1, "y": "init"}),
        ("step", 1, {"x": 2, "y": "init"}),
        ("step", 2, {"x": 3, "y": "init"}),
        ("end", 3, {"x": 3, "y": "init"}),
    ]
    assert result.common_data == {"x": 3, "y": "init"}


def test_a_failed_call_stops_the_run(write_scenario: WriteScenario, tmp_path: Path) -> None:
    """A call that exits 3 fails the run with a ModuleError, and no later call is made."""

    def handler(request: CallRequest, config: Mapping[str, Any]) -> Answer:
        if request.module.name == "b" and config["currentTick"] == 1:
            return 3
        return {"status": "success"}

    runner = FakeRunner(handler)
    scenario = write_scenario([spec("a", 2), spec("b", 1)])
    with pytest.raises(ModuleError, match="exited with code 3") as caught:
        run(scenario, tmp_path, runner)
    assert (caught.value.module, caught.value.tick, caught.value.exit_code) == ("b", 1, 3)
    last = runner.calls[-1]
    assert (last.module, last.mode, last.tick) == ("b", "step", 1)


def test_a_call_is_retried_until_it_succeeds(write_scenario: WriteScenario, tmp_path: Path) -> None:
    """With retries 2, a call that fails twice is made a third time and the run succeeds."""
    attempts: dict[int, int] = {}

    def handler(request: CallRequest, config: Mapping[str, Any]) -> Answer:
        if config["mode"] != "step" or config["currentTick"] != 1:
            return {"status": "success"}
        attempts[1] = attempts.get(1, 0) + 1
        if attempts[1] < 3:
            return {"status": "fail", "message": f"attempt {attempts[1]}"}
        return {"status": "success"}

    runner = FakeRunner(handler)
    result = run(write_scenario([spec("flaky", 1, retries=2)]), tmp_path, runner)
    assert attempts == {1: 3}
    assert [(call.mode, call.tick) for call in runner.calls].count(("step", 1)) == 3
    assert (result.calls, len(runner.calls)) == (5, 7)  # calls, and attempts


def test_a_call_result_is_returned_as_is_and_meanwhile_runs_once(
    write_scenario: WriteScenario, tmp_path: Path
) -> None:
    """A handler may answer with a whole CallResult; the meanwhile work is done once first."""
    config = tmp_path / "module_1.json"
    config.write_text('{"mode": "step", "currentTick": 4, "statusFile": "unused"}')
    timed_out = CallResult(exit_code=None, timed_out=True)
    runner = FakeRunner(lambda request, document: timed_out)
    done = threading.Event()
    request = CallRequest(
        module=load_scenario(write_scenario([spec("m", 1)])).modules[0],
        config_path=config,
        stdout_path=tmp_path / "stdout_1",
        stderr_path=tmp_path / "stderr_1",
        timeout=None,
        meanwhile=done.set,
    )
    assert runner.run(request) is timed_out
    assert done.is_set()
    assert not (tmp_path / "unused").exists()
    assert (runner.calls[0].mode, runner.calls[0].tick) == ("step", 4)
