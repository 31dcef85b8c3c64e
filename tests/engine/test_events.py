"""The events a run emits, in order, as a recording observer sees them (real module processes)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import MODULES, Recorder

import simba
from simba.events import CallFinished, RunFinished, RunStarted

#: Ticks 0..2 of one day each: start calls at 0, steps at 0 and 1, end calls at 2.
TWO_STEPS = {
    "initialTime": "2024-01-01T00:00:00",
    "endTime": "2024-01-03T00:00:00",
    "scheduleIntervals": [{"tickDuration": "P1D"}],
}


def spec(name: str, priority: float, module: str) -> dict[str, Any]:
    """A schedule entry for one of the executables in tests/modules/."""
    return {"name": name, "priority": priority, "command": str(MODULES / module)}


def talk_lines(tick: int) -> list[tuple[Any, ...]]:
    """The two lines info_error.sh reports at ``tick`` (its plain chatter line is not one)."""
    return [
        ("ModuleLine", "talk", tick, "INFO", f"hello from tick {tick}"),
        ("ModuleLine", "talk", tick, "ERROR", "something odd happened"),
    ]


def call(module: str, mode: str, tick: int, outcome: str = "success") -> list[tuple[Any, ...]]:
    """A call's start and finish events, with the lines of ``talk`` in between."""
    lines = talk_lines(tick) if module == "talk" else []
    return [
        ("CallStarted", module, mode, tick),
        *lines,
        ("CallFinished", module, mode, tick, outcome),
    ]


def test_two_modules_two_ticks(
    write_scenario: Callable[..., Path], recorder: Recorder, tmp_path: Path
) -> None:
    """A run emits RunStarted, then per batch TickStarted and each call's start, lines and
    finish in priority order, then RunFinished; nothing else."""
    scenario = write_scenario([spec("talk", 2, "info_error.sh"), spec("ok", 1, "ok.sh")], TWO_STEPS)
    result = simba.run(scenario, observers=[recorder], output_directory=tmp_path / "runs")
    assert result.calls == 8
    assert recorder.sequence() == [
        ("RunStarted",),
        ("TickStarted", "start", 0),
        *call("talk", "start", 0),
        *call("ok", "start", 0),
        ("TickStarted", "step", 0),
        *call("talk", "step", 0),
        *call("ok", "step", 0),
        ("TickStarted", "step", 1),
        *call("talk", "step", 1),
        *call("ok", "step", 1),
        ("TickStarted", "end", 2),
        *call("talk", "end", 2),
        *call("ok", "end", 2),
        ("RunFinished", "success"),
    ]
    started = recorder.of(RunStarted)[0]
    assert (started.initial_tick, started.final_tick, started.call_count) == (0, 2, 8)
    assert started.modules == ("talk", "ok")
    assert started.run_dir == result.run_dir


def test_failing_module_ends_the_events(
    write_scenario: Callable[..., Path], recorder: Recorder, tmp_path: Path
) -> None:
    """A module that exits 3 at its start call is the last call: its CallFinished says
    ``exit`` and RunFinished says ``failed`` with the error that simba.run raises."""
    scenario = write_scenario([spec("ok", 2, "ok.sh"), spec("three", 1, "exit3.sh")], TWO_STEPS)
    with pytest.raises(simba.ModuleError) as caught:
        simba.run(scenario, observers=[recorder], output_directory=tmp_path / "runs")
    assert (caught.value.module, caught.value.tick, caught.value.exit_code) == ("three", 0, 3)
    assert recorder.sequence() == [
        ("RunStarted",),
        ("TickStarted", "start", 0),
        *call("ok", "start", 0),
        *call("three", "start", 0, outcome="exit"),
        ("RunFinished", "failed"),
    ]
    (finished,) = recorder.of(RunFinished)
    assert finished.error is not None
    assert finished.error.startswith("module 'three' (start call at tick 0) exited with code 3")
    assert [e.exit_code for e in recorder.of(CallFinished)] == [0, 3]
