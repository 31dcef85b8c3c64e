"""The Station observer's lines, without processes: causes, heartbeat, rate limit (issue 14)."""

from __future__ import annotations

import io
from datetime import datetime
from pathlib import Path

from simba.errors import Problem, ScenarioError
from simba.events import CallFinished, CallStarted, ModuleLine, RunFinished, RunStarted
from simba.observers import station as station_module
from simba.observers.lifetime import LifetimeJobs
from simba.observers.station import StationObserver, one_line


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def observer(clock: Clock, lifetime: LifetimeJobs | None = None) -> StationObserver:
    return StationObserver(io.StringIO(), clock=clock, lifetime=lifetime)


def lines(station: StationObserver) -> list[str]:
    stream = station.stream
    assert isinstance(stream, io.StringIO)
    return stream.getvalue().splitlines()


def started(calls_done: int = 0) -> RunStarted:
    time = datetime(2024, 1, 1)
    return RunStarted(run_dir=Path("/r/x"), run_id="x", initial_tick=0, final_tick=3,
                      initial_time=time, final_time=time, call_count=5, modules=("m",),
                      calls_done=calls_done)  # fmt: skip


def finished(module: str = "m", tick: int = 0) -> CallFinished:
    return CallFinished(module=module, mode="step", tick=tick, target_tick=tick + 1, attempt=1,
                        outcome="success", exit_code=0, wall_time=0.1, started_at=0.0)  # fmt: skip


def test_failed_run_error_line_carries_the_stderr_tail() -> None:
    """The run's error, several lines long, is one ERROR: line ending in its last stderr lines."""
    station = observer(Clock())
    station(started())
    error = (
        "module 'epi' (step at tick 2) exited with code 3; last lines of its stderr:\n"
        "    | Traceback (most recent call last):\n    | KeyError: 'population'\n"
        "(full log: /r/x/3/stderr_1)"
    )
    station(RunFinished(run_dir=Path("/r/x"), outcome="failed", calls=1, wall_time=1.0,
                        error=error))  # fmt: skip
    first, advice = lines(station)[-2:]
    assert first.startswith("ERROR: run failed: module 'epi' (step at tick 2) exited with code 3")
    assert "| KeyError: 'population' | (full log: /r/x/3/stderr_1)" in first
    assert advice.startswith("ERROR: the run stays stopped;") and "/r/x" in advice


def test_one_line_keeps_the_end_of_a_long_cause() -> None:
    """A cause longer than the limit keeps its head and its last lines."""
    text = "module 'm' failed; last lines of its stderr:\n" + "\n".join(
        f"    | line {i:04d}" for i in range(1000)
    )
    shortened = one_line(text, limit=300)
    assert len(shortened) <= 300
    assert shortened.startswith("module 'm' failed") and shortened.endswith("line 0999")


def test_scenario_problems_are_one_error_line_each() -> None:
    """A ScenarioError: a head line, a line per problem, the advice."""
    station = observer(Clock())
    station.fail(
        ScenarioError([Problem("s.json", "schedule[0].x", "bad"), Problem("d.json", "", "worse")])
    )
    assert lines(station) == [
        "ERROR: the scenario has 2 problems:",
        "ERROR: s.json: schedule[0].x: bad",
        "ERROR: d.json: worse",
        "ERROR: fix the scenario, then restart this module",
    ]
    assert station.board.snapshot()[0]["state"] == "failed"


def test_heartbeat_names_a_long_call_and_how_long_it_ran() -> None:
    """Silence while a call runs 30 s or more: an INFO line naming it; none for short calls."""
    clock = Clock()
    station = observer(clock)
    station(started())
    station(CallStarted(module="slowmodel", mode="step", tick=2, attempt=1))
    clock.now += 10
    station.heartbeat()
    assert not any("still running" in line for line in lines(station))
    clock.now += 65
    station.heartbeat()
    assert lines(station)[-1] == (
        "INFO: still running: slowmodel (step at tick 2) for 1 min 15 s; 0 jobs completed"
    )
    station.heartbeat()  # just said: not again at once
    assert sum("still running" in line for line in lines(station)) == 1


def test_module_info_lines_are_rate_limited_per_module() -> None:
    """At most RATE_LINES INFO lines a minute per module; then a count of those not shown;
    ERROR lines always pass."""
    clock = Clock()
    station = observer(clock)
    for i in range(50):
        station(ModuleLine(module="chatty", tick=0, level="INFO", text=f"line {i}"))
    station(ModuleLine(module="chatty", tick=0, level="ERROR", text="bad"))
    station(ModuleLine(module="quiet", tick=0, level="INFO", text="hello"))
    shown = lines(station)
    assert (
        sum(line.startswith("INFO: [chatty] line") for line in shown) == station_module.RATE_LINES
    )
    assert "ERROR: [chatty] bad" in shown and "INFO: [quiet] hello" in shown
    clock.now += station_module.RATE_WINDOW
    station(ModuleLine(module="chatty", tick=0, level="INFO", text="later"))
    assert lines(station)[-2:] == [
        f"INFO: [chatty] {50 - station_module.RATE_LINES} more INFO lines not shown (at most "
        f"{station_module.RATE_LINES} a minute per module; all are in the run's logs)",
        "INFO: [chatty] later",
    ]


def test_lifetime_jobs_never_go_down_and_a_rerun_call_is_not_counted_twice(
    tmp_path: Path,
) -> None:
    """The lifetime count is the sum of each run's highest count; a run resumed with fewer
    traced calls than it had shown starts from what it had shown."""
    path = tmp_path / "simba-jobs.json"
    station = observer(Clock(), LifetimeJobs(path))
    station.run_key = "/r/a"
    station(started())
    for tick in range(3):
        station(finished(tick=tick))
    assert station.board.snapshot()[0]["jobsCompleted"] == 3
    again = observer(Clock(), LifetimeJobs(path))  # after a SIGKILL: the trace had only 2
    again.run_key = "/r/a"
    again(started(calls_done=2))
    assert again.board.snapshot()[0]["jobsCompleted"] == 3
    again(finished(tick=2))  # the call cut off runs again
    assert again.board.snapshot()[0]["jobsCompleted"] == 3
    other = observer(Clock(), LifetimeJobs(path))
    other.run_key = "/r/b"
    other(started())
    other(finished())
    assert other.board.snapshot()[0]["jobsCompleted"] == 4
