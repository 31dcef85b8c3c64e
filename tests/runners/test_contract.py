"""One contract, every runner: the same scenarios through the local, resident and parsl types.

The module under test is tests/modules/sdk_counter.py, written with the SDK, whose
``Module.main`` serves one call per process (local, parsl) and every call of a run over
stdin (resident) alike.  A record.py watcher (always local) after it shows what the next
call of the run sees.  Whatever the back-end, a run must give the same events, the same
state and the same failure.  Each parsl case starts a DataFlowKernel (seconds): there are
two of them.
"""

from __future__ import annotations

import gc
import json
import logging
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import pytest
from conftest import MODULES, SMALL_DRIVER, Recorder, run_processes

import simba
from simba.events import CallStarted, ModuleLine, RunFinished

needs_parsl = pytest.mark.skipif(
    find_spec("parsl") is None, reason="Parsl is not installed (pip install 'simba-cosim[parsl]')"
)

RUNNER_TYPES = ["local", "resident", pytest.param("parsl", marks=needs_parsl)]

#: SMALL_DRIVER's ticks: start calls at 0, steps at 0, 1 and 2, end calls at 3.
STEPS = (0, 1, 2)
FINAL_TICK = 3


@dataclass(frozen=True)
class Run:
    """A finished (or failed) run of the contract scenario with one runner type."""

    kind: str
    run_dir: Path
    recorder: Recorder
    watcher_log: Path
    counter_log: Path
    result: simba.RunResult | None = None
    error: simba.ModuleError | None = None

    def watched(self) -> list[dict[str, Any]]:
        """The config documents the watcher received, in order."""
        lines = self.watcher_log.read_text(encoding="utf-8").splitlines()
        return [json.loads(line)["config"] for line in lines]

    def counted(self) -> list[tuple[str, int, int | None]]:
        """(method, currentTick, lastRunTick) of each call the counter handled."""
        lines = self.counter_log.read_text(encoding="utf-8").splitlines()
        return [(e["method"], e["currentTick"], e["lastRunTick"]) for e in map(json.loads, lines)]


def run_contract(kind: str, base: Path, **counter_data: Any) -> Run:
    """Run the counter as a ``kind`` module, then the watcher, over SMALL_DRIVER's ticks."""
    base.mkdir(parents=True, exist_ok=True)
    counter: dict[str, Any] = {
        "name": "counter",
        "priority": 2,
        "command": str(MODULES / "sdk_counter.py"),
        "type": kind,
        "updateCommonData": True,
        "moduleData": {"log": str(base / "counter.jsonl"), **counter_data},
    }
    if kind == "parsl":  # one local worker: enough here, and quicker to start
        counter["executor"] = {"type": "HighThroughputExecutor", "max_workers": 1}
    watcher = {
        "name": "watcher",
        "priority": 1,
        "command": str(MODULES / "record.py"),
        "moduleData": {"log": str(base / "watcher.jsonl")},
    }
    schedule = {"schedule": [counter, watcher], "commonData": {"total": 0}}
    (base / "driver.json").write_text(json.dumps(SMALL_DRIVER), encoding="utf-8")
    (base / "schedule.json").write_text(json.dumps(schedule), encoding="utf-8")
    recorder = Recorder()
    facts: dict[str, Any] = {
        "kind": kind,
        "run_dir": base / "runs" / "run",
        "recorder": recorder,
        "watcher_log": base / "watcher.jsonl",
        "counter_log": base / "counter.jsonl",
    }
    options = {"output_directory": base / "runs", "run_id": "run"}
    try:
        return Run(**facts, result=simba.run(base, observers=[recorder], **options))
    except simba.ModuleError as error:
        return Run(**facts, error=error)
    finally:
        if kind == "parsl":
            close_parsl_log(base)


def close_parsl_log(base: Path) -> None:
    """Close the parsl.log handler of the run under ``base``.

    Parsl (parsl/logconfigs/file.py) takes the handler off its loggers when the
    DataFlowKernel is cleaned up, but does not close it: the file stays open until the
    handler is collected, and the ResourceWarning that gives would fail the session.
    A run in a ``simba`` process does not notice (the process ends with the run).
    """
    for thing in gc.get_objects():
        if isinstance(thing, logging.FileHandler) and Path(thing.baseFilename).is_relative_to(base):
            thing.close()


def calls(module: str, mode: str, tick: int, *lines: str) -> list[tuple[Any, ...]]:
    """The events of one successful call: started, its INFO lines, finished."""
    return [
        ("CallStarted", module, mode, tick),
        *[("ModuleLine", module, tick, "INFO", text) for text in lines],
        ("CallFinished", module, mode, tick, "success"),
    ]


def expected_events() -> list[tuple[Any, ...]]:
    """What a successful run of the contract scenario emits, whatever the runner."""
    events: list[tuple[Any, ...]] = [("RunStarted",), ("TickStarted", "start", 0)]
    events += calls("counter", "start", 0) + calls("watcher", "start", 0)
    for tick in STEPS:
        events.append(("TickStarted", "step", tick))
        events += calls("counter", "step", tick, f"count is {tick + 1}")
        events += calls("watcher", "step", tick)
    events.append(("TickStarted", "end", FINAL_TICK))
    events += calls("counter", "end", FINAL_TICK) + calls("watcher", "end", FINAL_TICK)
    return [*events, ("RunFinished", "success")]


@pytest.fixture(scope="module", params=RUNNER_TYPES)
def finished(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """The contract scenario, run once per runner type."""
    kind: str = request.param
    return run_contract(kind, tmp_path_factory.mktemp(f"contract-{kind}"))


def test_run_succeeds_with_the_same_events(finished: Run) -> None:
    """Every runner gives the same events in the same order, and leaves no process behind."""
    assert finished.error is None
    assert finished.recorder.sequence() == expected_events()
    assert run_processes(finished.run_dir) == []


def test_module_data_carries_over(finished: Run) -> None:
    """moduleData a call returns is what the module's next call gets; lastRunTick follows."""
    assert finished.result is not None
    assert finished.result.module_data["counter"] == {
        "log": str(finished.counter_log),
        "count": len(STEPS),
        "ended": True,
    }
    assert finished.counted() == [
        ("start", 0, None),
        ("step", 0, 0),
        ("step", 1, 0),
        ("step", 2, 1),
        ("end", FINAL_TICK, 2),
    ]


def test_common_data_merges_for_the_next_calls(finished: Run) -> None:
    """With updateCommonData the module's declared commonData keys reach the calls after
    it and the final state."""
    assert finished.result is not None
    assert finished.result.common_data == {"total": len(STEPS)}
    assert [c["commonData"]["total"] for c in finished.watched()] == [0, 1, 2, 3, 3]


def test_info_lines_reach_the_events(finished: Run) -> None:
    """A module's ``INFO:`` lines arrive as ModuleLine events of its call's tick."""
    lines = finished.recorder.of(ModuleLine)
    assert [(e.module, e.tick, e.level, e.text) for e in lines] == [
        ("counter", tick, "INFO", f"count is {tick + 1}") for tick in STEPS
    ]


@pytest.mark.parametrize("kind", RUNNER_TYPES)
def test_failing_module_stops_the_run(kind: str, tmp_path: Path) -> None:
    """A module that fails (the SDK: exit 1 for one call, status fail when resident) stops
    the run: a ModuleError names it, its tick and the cause, and no call comes after."""
    failed = run_contract(kind, tmp_path, raiseAt=1)
    error = failed.error
    assert error is not None
    assert (error.module, error.tick, error.mode) == ("counter", 1, "step")
    assert str(error).startswith("module 'counter' (step at tick 1)")
    assert "ValueError: boom at 1" in str(error)
    started = [(e.module, e.mode, e.tick) for e in failed.recorder.of(CallStarted)]
    assert started[-1] == ("counter", "step", 1)
    assert len(started) == 5  # two start calls, two steps at tick 0, then the failing one
    (finish,) = failed.recorder.of(RunFinished)
    assert finish.outcome == "failed"
    assert [c["currentTick"] for c in failed.watched()] == [0, 0]
    assert run_processes(failed.run_dir) == []
