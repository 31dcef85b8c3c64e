"""Running whole scenarios with real module processes: failures, retries, state, run directory."""

from __future__ import annotations

import itertools
import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import MODULES, process_gone, run_simba_measured

from simba.engine import Engine, RunOptions
from simba.engine.journal import read_trace
from simba.errors import ModuleError
from simba.events import CallFinished, Event
from simba.leftovers import kill_leftovers
from simba.scenario import load_scenario

OK = str(MODULES / "ok.sh")
SCRIPTED = str(MODULES / "scripted.py")
RECORD = str(MODULES / "record.py")

Cli = Callable[..., subprocess.CompletedProcess[str]]


def spec(name: str, priority: float, command: str | list[str], **fields: Any) -> dict[str, Any]:
    """A schedule entry."""
    return {"name": name, "priority": priority, "command": command, **fields}


def records(log: Path) -> list[dict[str, Any]]:
    """The calls a record.py module logged, in order."""
    return [json.loads(line) for line in log.read_text().splitlines()]


def run_engine(scenario: Path, out: Path, run_id: str = "run", jobs: int | None = None) -> Path:
    """Run a scenario in-process (module calls are still real processes); the run dir."""
    loaded = load_scenario(scenario)
    Engine(loaded, RunOptions(output_directory=out, run_id=run_id, jobs=jobs)).run()
    return out / run_id


def summary_of(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / ".simba" / "summary.json").read_text())


# -- failures ---------------------------------------------------------------------------

STDERR_LINE = "scripted: about to misbehave"

FAILURES = {
    "exit-code": ({"exit": 4}, "exited with code 4", "exit"),
    "status-fail": (
        {"status": "fail", "message": "the model diverged"},
        "reported status 'fail': the model diverged",
        "fail",
    ),
    "status-failure": (
        {"status": "failure", "message": "spelled the old way"},
        "reported status 'failure': spelled the old way",
        "fail",
    ),
    "status-error-text": (
        {"status": "fail", "error": "the grid did not converge"},
        "reported status 'fail': the grid did not converge",
        "fail",
    ),
    "no-status": ({"noStatus": True}, "wrote no status file", "status"),
    "malformed": ({"raw": '{"status": "success",'}, "not valid JSON", "status"),
    "list": ({"raw": '[{"status": "success"}]'}, "holds a list, not a JSON object", "status"),
    "string": ({"raw": '"success"'}, "holds a string, not a JSON object", "status"),
    "null": ({"raw": "null"}, "holds null, not a JSON object", "status"),
    "unknown-status": ({"raw": '{"status": "maybe"}'}, '"maybe" is not one of', "status"),
    "common-data-list": (
        {"raw": '{"status": "success", "commonData": [1, 2]}'},
        "commonData",
        "status",
    ),
    "over-16-mib": ({"bigStatus": 16 * 1024 * 1024 + 10}, "larger than 16 MiB", "status"),
    "killed": ({"killSelf": "SIGKILL"}, "killed by signal SIGKILL", "signal"),
}


@pytest.mark.parametrize("case", list(FAILURES), ids=list(FAILURES))
def test_module_failure_stops_run(
    case: str, write_scenario: Callable[..., Path], simba_cli: Cli, tmp_path: Path
) -> None:
    """A failed step stops the run with exit 1, naming module, tick, reason and its stderr."""
    actions, reason, outcome = FAILURES[case]
    data = {"onTick": 1, "onMode": "step", "stderr": [STDERR_LINE], **actions}
    scenario = write_scenario([spec("good", 2, OK), spec("bad", 1, SCRIPTED, moduleData=data)])
    started = time.monotonic()
    result = simba_cli("run", scenario, "-o", tmp_path / "runs", "--run-id", "r")
    assert time.monotonic() - started < 20
    assert result.returncode == 1, result.stdout + result.stderr
    error = result.stderr
    assert "module 'bad'" in error
    assert "tick 1" in error
    assert reason in error
    assert STDERR_LINE in error
    assert "Traceback" not in error
    run_dir = tmp_path / "runs" / "r"
    trace = read_trace(run_dir / ".simba" / "trace.jsonl")
    assert [(r["module"], r["mode"], r["tick"]) for r in trace] == [
        ("good", "start", 0),
        ("bad", "start", 0),
        ("good", "step", 0),
        ("bad", "step", 0),
        ("good", "step", 1),
        ("bad", "step", 1),
    ]
    assert [r["outcome"] for r in trace[:-1]] == ["success"] * 5
    assert trace[-1]["outcome"] == outcome
    assert not (run_dir / "3").exists()
    assert not (run_dir / "end").exists()
    summary = summary_of(run_dir)
    assert summary["outcome"] == "failed"
    assert summary["calls"] == 5
    assert reason in summary["error"]
    assert summary["modules"]["bad"]["failures"] == 1


def test_exit3_module_fails_run(write_scenario: Callable[..., Path], simba_cli: Cli) -> None:
    """A module that exits 3 fails the run at its start call even though it wrote a success."""
    scenario = write_scenario([spec("three", 1, str(MODULES / "exit3.sh"))])
    result = simba_cli("run", scenario, "--run-id", "r")
    assert result.returncode == 1
    assert "module 'three' (start call at tick 0) exited with code 3" in result.stderr
    assert "exit3: giving up with code 3" in result.stderr


def test_timeout_kills_module_and_grandchild(
    write_scenario: Callable[..., Path], simba_cli: Cli, tmp_path: Path
) -> None:
    """A module past its timeout is stopped with its grandchildren and the run exits 1 quickly."""
    hang = str(MODULES / "hang_with_grandchild.sh")
    scenario = write_scenario([spec("hang", 1, hang, timeout=1)])
    started = time.monotonic()
    result = simba_cli("run", scenario, "-o", tmp_path / "runs", "--run-id", "r")
    elapsed = time.monotonic() - started
    assert result.returncode == 1
    assert elapsed < 5
    assert "module 'hang' (start call at tick 0) ran longer than its timeout of 1 s" in (
        result.stderr
    )
    assert "hang: started grandchild" in result.stderr
    pid = int((tmp_path / "runs" / "r" / "0" / "grandchild.pid").read_text())
    deadline = time.monotonic() + 2
    while not process_gone(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert process_gone(pid), f"grandchild {pid} survived the timeout"
    trace = read_trace(tmp_path / "runs" / "r" / ".simba" / "trace.jsonl")
    assert [r["outcome"] for r in trace] == ["timeout"]


def test_stale_status_from_earlier_attempt_does_not_count(
    write_scenario: Callable[..., Path], simba_cli: Cli, tmp_path: Path
) -> None:
    """A retry that writes no status fails even though the failed attempt before it left one."""
    data = {
        "onMode": "start",
        "counter": str(tmp_path / "counter"),
        "attempts": [{"exit": 1}, {"noStatus": True}],
    }
    scenario = write_scenario([spec("stale", 1, SCRIPTED, moduleData=data, retries=1)])
    result = simba_cli("run", scenario, "-o", tmp_path / "runs", "--run-id", "r")
    assert result.returncode == 1
    assert "wrote no status file" in result.stderr
    trace = read_trace(tmp_path / "runs" / "r" / ".simba" / "trace.jsonl")
    assert [(r["attempt"], r["outcome"]) for r in trace] == [(1, "exit"), (2, "status")]
    assert not (tmp_path / "runs" / "r" / "0" / "status_1.json").exists()


# -- retries ------------------------------------------------------------------------------


def _flaky(tmp_path: Path) -> dict[str, Any]:
    return {
        "onMode": "step",
        "onTick": 0,
        "counter": str(tmp_path / "counter"),
        "attempts": [
            {"exit": 1, "stdout": ["out 1"], "stderr": ["err 1"]},
            {"exit": 2, "stdout": ["out 2"], "stderr": ["err 2"]},
            {"stdout": ["out 3"], "stderr": ["err 3"]},
        ],
    }


def test_retries_until_success(
    write_scenario: Callable[..., Path], simba_cli: Cli, tmp_path: Path
) -> None:
    """A module that succeeds on its third attempt passes with retries 2, keeping every log."""
    scenario = write_scenario([spec("flaky", 1, SCRIPTED, moduleData=_flaky(tmp_path), retries=2)])
    result = simba_cli("run", scenario, "-o", tmp_path / "runs", "--run-id", "r")
    assert result.returncode == 0, result.stdout + result.stderr
    call_dir = tmp_path / "runs" / "r" / "1"
    for suffix, n in (("", 1), (".2", 2), (".3", 3)):
        assert (call_dir / f"stdout_1{suffix}").read_text() == f"out {n}\n"
        assert (call_dir / f"stderr_1{suffix}").read_text() == f"err {n}\n"
    trace = read_trace(tmp_path / "runs" / "r" / ".simba" / "trace.jsonl")
    step0 = [r for r in trace if r["mode"] == "step" and r["tick"] == 0]
    assert [(r["attempt"], r["outcome"], r["exitCode"]) for r in step0] == [
        (1, "exit", 1),
        (2, "exit", 2),
        (3, "success", 0),
    ]
    summary = summary_of(tmp_path / "runs" / "r")
    assert summary["outcome"] == "success"
    assert summary["modules"]["flaky"]["failures"] == 2


def test_retries_exhausted(
    write_scenario: Callable[..., Path], simba_cli: Cli, tmp_path: Path
) -> None:
    """The same module fails the run with retries 1, reporting the last attempt's failure."""
    scenario = write_scenario([spec("flaky", 1, SCRIPTED, moduleData=_flaky(tmp_path), retries=1)])
    result = simba_cli("run", scenario, "-o", tmp_path / "runs", "--run-id", "r")
    assert result.returncode == 1
    assert "exited with code 2" in result.stderr
    assert "err 2" in result.stderr
    assert (tmp_path / "runs" / "r" / "1" / "stdout_1").read_text() == "out 1\n"
    assert not (tmp_path / "runs" / "r" / "1" / "stdout_1.3").exists()


# -- commonData, moduleData, storeFront -----------------------------------------------------


def test_common_data_rules(
    write_scenario: Callable[..., Path], simba_cli: Cli, tmp_path: Path
) -> None:
    """Declared keys from updateCommonData modules are merged; everything else is warned about."""
    log = tmp_path / "watcher.jsonl"
    once = {"onMode": "step", "onTick": 0}
    scenario = write_scenario(
        {
            "commonData": {"x": 0, "y": "init"},
            "schedule": [
                spec(
                    "writer",
                    3,
                    SCRIPTED,
                    updateCommonData=True,
                    moduleData={**once, "commonData": {"x": 42, "zzz": 1}},
                ),
                spec("sneaky", 2, SCRIPTED, moduleData={**once, "commonData": {"y": "hacked"}}),
                spec("watcher", 1, RECORD, moduleData={"log": str(log)}),
            ],
        }
    )
    result = simba_cli("run", scenario, "-o", tmp_path / "runs", "--run-id", "r")
    assert result.returncode == 0, result.stdout + result.stderr
    seen = [(r["config"]["mode"], r["config"]["commonData"]) for r in records(log)]
    assert seen == [
        ("start", {"x": 0, "y": "init"}),
        ("step", {"x": 42, "y": "init"}),
        ("step", {"x": 42, "y": "init"}),
        ("step", {"x": 42, "y": "init"}),
        ("end", {"x": 42, "y": "init"}),
    ]
    warnings = [line for line in result.stdout.splitlines() if line.startswith("warning")]
    assert any("'writer'" in w and "'zzz'" in w for w in warnings), result.stdout
    assert any("'sneaky'" in w and "updateCommonData" in w for w in warnings), result.stdout
    assert summary_of(tmp_path / "runs" / "r")["commonData"] == {"x": 42, "y": "init"}


def test_config_written_ahead_follows_each_status(
    write_scenario: Callable[..., Path], tmp_path: Path
) -> None:
    """A module's next config is written while it runs; when its status then changes
    commonData, every config the module reads still holds the previous call's value."""
    log = tmp_path / "solo.jsonl"
    data = {"log": str(log), "tag": "solo", "mark": ["last"]}
    scenario = write_scenario(
        {
            "commonData": {"last": None},
            "schedule": [spec("solo", 1, RECORD, updateCommonData=True, moduleData=data)],
        }
    )
    run_engine(scenario, tmp_path / "runs")
    seen = [r["config"] for r in records(log)]
    assert len(seen) >= 4
    assert seen[0]["commonData"] == {"last": None}
    for before, config in itertools.pairwise(seen):
        assert config["commonData"] == {"last": f"solo@{before['mode']}{before['currentTick']}"}


def test_module_data_is_replaced(write_scenario: Callable[..., Path], tmp_path: Path) -> None:
    """moduleData a module returns replaces (not merges into) its moduleData for later calls."""
    data = {"onMode": "step", "onTick": 1, "keep": "me", "setModuleData": {"fresh": True}}
    log = tmp_path / "counter.jsonl"
    scenario = write_scenario(
        [
            spec("changer", 2, SCRIPTED, moduleData=data),
            spec("counter", 1, RECORD, moduleData={"log": str(log), "bump": True}),
        ]
    )
    run_dir = run_engine(scenario, tmp_path / "runs")
    configs = {
        d: json.loads((run_dir / d / "module_1.json").read_text())["moduleData"]
        for d in ("1", "2", "3", "end")
    }
    assert configs == {"1": data, "2": data, "3": {"fresh": True}, "end": {"fresh": True}}
    assert [r["config"]["moduleData"].get("n", 0) for r in records(log)] == [0, 1, 2, 3, 4]
    summary = summary_of(run_dir)
    assert summary["modules"]["counter"]["moduleData"]["n"] == 5
    assert summary["modules"]["changer"]["moduleData"] == {"fresh": True}


def test_store_front_published(write_scenario: Callable[..., Path], tmp_path: Path) -> None:
    """A storeFront module's last config (without commonData) appears in later calls' commonData."""
    log = tmp_path / "watcher.jsonl"
    scenario = write_scenario(
        {
            "commonData": {"x": 1},
            "schedule": [
                spec("front", 2, SCRIPTED, storeFront=True, moduleData={"secret": 7}),
                spec("watcher", 1, RECORD, moduleData={"log": str(log)}),
            ],
        }
    )
    run_dir = run_engine(scenario, tmp_path / "runs")
    seen = records(log)
    assert len(seen) == 5
    for record in seen:
        config = record["config"]
        directory = Path(record["configPath"]).parent
        front = json.loads((directory / "module_1.json").read_text())
        del front["commonData"]
        assert config["commonData"]["storeFronts"] == {"front": front}
        assert front["mode"] == config["mode"]
        assert front["currentTick"] == config["currentTick"]
        assert front["moduleData"] == {"secret": 7}
    start_front = json.loads((run_dir / "0" / "module_1.json").read_text())
    assert start_front["commonData"] == {"x": 1}
    assert summary_of(run_dir)["commonData"]["storeFronts"]["front"]["mode"] == "end"


# -- dependency mode ------------------------------------------------------------------------


def _abcd_scenario(write_scenario: Callable[..., Path], log: Path, dependencies: bool) -> Path:
    """a and b update 'shared' too; c depends on a, d on c (so on a, not b)."""

    def entry(name: str, priority: int, depends: list[str], marks: list[str]) -> dict[str, Any]:
        extra = {"dependsOn": depends} if dependencies else {}
        data = {"log": str(log), "tag": name, "mark": marks}
        return spec(name, priority, RECORD, updateCommonData=True, moduleData=data, **extra)

    return write_scenario(
        {
            "commonData": dict.fromkeys(["a", "b", "c", "d", "shared"]),
            "schedule": [
                entry("d", 0, ["c"], ["d"]),
                entry("c", 1, ["a"], ["c"]),
                entry("b", 2, [], ["b", "shared"]),
                entry("a", 3, [], ["a", "shared"]),
            ],
        }
    )


def _seen(log: Path) -> dict[tuple[str, str, int], dict[str, Any]]:
    seen = {}
    for record in records(log):
        config = record["config"]
        key = (config["moduleData"]["tag"], config["mode"], config["currentTick"])
        seen[key] = config["commonData"]
    return seen


@pytest.mark.parametrize("jobs", [1, 4])
def test_dependency_mode_sees_only_ancestors(
    write_scenario: Callable[..., Path], tmp_path: Path, jobs: int
) -> None:
    """With dependsOn, a call sees tick-start commonData plus its ancestors' updates only."""
    log = tmp_path / "calls.jsonl"
    scenario = _abcd_scenario(write_scenario, log, True)
    run_dir = run_engine(scenario, tmp_path / "runs", jobs=jobs)
    if jobs == 1:
        order = [(r["config"]["moduleData"]["tag"], r["config"]["mode"]) for r in records(log)]
        assert order[:4] == [("a", "start"), ("b", "start"), ("c", "start"), ("d", "start")]
    seen = _seen(log)
    previous: dict[str, Any] = dict.fromkeys(["a", "b", "c", "d", "shared"])
    for mode, tick in [("start", 0), ("step", 0), ("step", 1), ("step", 2), ("end", 3)]:
        now = f"{mode}{tick}"
        assert seen["a", mode, tick] == previous
        assert seen["b", mode, tick] == previous  # a ran earlier but is no ancestor of b
        from_a = {**previous, "a": f"a@{now}", "shared": f"a@{now}"}
        assert seen["c", mode, tick] == from_a
        assert seen["d", mode, tick] == {**from_a, "c": f"c@{now}"}
        # after the batch, every update applies in serial order: b's 'shared' wins over a's
        previous = {**{name: f"{name}@{now}" for name in "abcd"}, "shared": f"b@{now}"}
    assert summary_of(run_dir)["commonData"] == previous


def test_serial_mode_sees_every_earlier_call(
    write_scenario: Callable[..., Path], tmp_path: Path
) -> None:
    """Without dependsOn, each call sees the updates of every call before it."""
    log = tmp_path / "calls.jsonl"
    run_engine(_abcd_scenario(write_scenario, log, False), tmp_path / "runs")
    seen = _seen(log)
    before = {"a": "a@step0", "b": "b@step0", "c": "c@step0", "d": "d@step0", "shared": "b@step0"}
    assert seen["b", "step", 1] == {**before, "a": "a@step1", "shared": "a@step1"}
    assert seen["d", "step", 1] == {
        **before,
        "a": "a@step1",
        "b": "b@step1",
        "c": "c@step1",
        "shared": "b@step1",
    }


# -- the run directory ----------------------------------------------------------------------


def test_run_directory_layout(
    write_scenario: Callable[..., Path], simba_cli: Cli, tmp_path: Path
) -> None:
    """Ticks get directories, start links to initialTick, files are numbered to the module count."""
    driver = {
        "initialTime": "2024-01-01T00:00:00",
        "endTime": "P3D",
        "initialTick": 5,
        "scheduleIntervals": [{"tickDuration": "P1D"}],
    }
    modules = [spec(f"m{i}", 20 - i, OK) for i in range(1, 12)]
    scenario = write_scenario({"commonData": {"k": [1, 2]}, "schedule": modules}, driver)
    result = simba_cli("run", scenario, "-o", tmp_path / "runs", "--run-id", "r")
    assert result.returncode == 0, result.stdout + result.stderr
    run_dir = tmp_path / "runs" / "r"
    entries = sorted(p.name for p in run_dir.iterdir())
    assert entries == [".simba", "5", "6", "7", "8", "end", "start"]
    assert (run_dir / "start").is_symlink()
    assert (run_dir / "start").readlink() == Path("5")
    numbers = [f"{i:02d}" for i in range(1, 12)]
    required = {f"{kind}_{n}.json" for n in numbers for kind in ("module", "status")}
    logs = {f"{kind}_{n}" for n in numbers for kind in ("stdout", "stderr")}  # may be omitted
    for directory in ("5", "6", "7", "8", "end"):
        names = {p.name for p in (run_dir / directory).iterdir()}
        assert required <= names <= required | logs
    start = json.loads((run_dir / "5" / "module_01.json").read_text())
    assert (start["mode"], start["currentTick"]) == ("start", 5)
    step = json.loads((run_dir / "6" / "module_11.json").read_text())
    assert (step["mode"], step["currentTick"], step["targetTick"]) == ("step", 5, 6)
    assert json.loads((run_dir / "end" / "module_11.json").read_text())["currentTick"] == 8
    trace = read_trace(run_dir / ".simba" / "trace.jsonl")
    assert len(trace) == 11 * 5
    for record in trace:
        assert {"module", "mode", "tick", "outcome", "wallTime", "exitCode"} <= set(record)
        assert record["outcome"] == "success"
        assert record["exitCode"] == 0
        assert record["wallTime"] > 0
    assert [r["module"] for r in trace[:11]] == [f"m{i}" for i in range(1, 12)]
    summary = summary_of(run_dir)
    assert summary["outcome"] == "success"
    assert summary["calls"] == 55
    assert summary["commonData"] == {"k": [1, 2]}
    assert set(summary["modules"]) == {f"m{i}" for i in range(1, 12)}
    for stats in summary["modules"].values():
        assert stats["calls"] == 5
        assert stats["failures"] == 0
        assert stats["wallTime"] > 0
        assert stats["lastRunTick"] == 8


def test_tick_directories_only_when_used(
    write_scenario: Callable[..., Path], tmp_path: Path
) -> None:
    """A tick at which no call runs gets no directory."""
    scenario = write_scenario([spec("sparse", 1, OK, tickIncrement=2)])
    run_dir = run_engine(scenario, tmp_path / "runs")
    assert sorted(p.name for p in run_dir.iterdir()) == [".simba", "0", "1", "3", "end", "start"]


def test_existing_run_directory_refused(
    write_scenario: Callable[..., Path], simba_cli: Cli, tmp_path: Path
) -> None:
    """A second run into the same run directory exits 2 unless --overwrite, which then works."""
    scenario = write_scenario([spec("ok", 1, OK)])
    args = ("run", scenario, "-o", tmp_path / "runs", "--run-id", "same")
    assert simba_cli(*args).returncode == 0
    (tmp_path / "runs" / "same" / "marker").write_text("old")
    refused = simba_cli(*args)
    assert refused.returncode == 2
    assert "already exists" in refused.stderr
    assert "--overwrite" in refused.stderr
    assert (tmp_path / "runs" / "same" / "marker").exists()
    again = simba_cli(*args, "--overwrite")
    assert again.returncode == 0, again.stdout + again.stderr
    assert not (tmp_path / "runs" / "same" / "marker").exists()
    assert (tmp_path / "runs" / "same" / "start").readlink() == Path("0")
    assert summary_of(tmp_path / "runs" / "same")["outcome"] == "success"


def test_overwrite_refuses_foreign_directory(
    write_scenario: Callable[..., Path], simba_cli: Cli, tmp_path: Path
) -> None:
    """--overwrite does not delete a directory that is not a SIMBA run directory."""
    foreign = tmp_path / "runs" / "thesis"
    foreign.mkdir(parents=True)
    (foreign / "chapter1.tex").write_text("precious")
    scenario = write_scenario([spec("ok", 1, OK)])
    result = simba_cli(
        "run", scenario, "-o", tmp_path / "runs", "--run-id", "thesis", "--overwrite"
    )
    assert result.returncode == 2
    assert "not a SIMBA run directory" in result.stderr
    assert (foreign / "chapter1.tex").read_text() == "precious"


# -- the engine in-process --------------------------------------------------------------


def test_engine_raises_module_error_with_facts(
    write_scenario: Callable[..., Path], tmp_path: Path
) -> None:
    """The library raises a ModuleError whose attributes name the module, tick and exit code."""
    data = {"onMode": "step", "onTick": 2, "exit": 5}
    scenario = write_scenario([spec("bad", 1, SCRIPTED, moduleData=data)])
    with pytest.raises(ModuleError) as caught:
        run_engine(scenario, tmp_path / "runs")
    error = caught.value
    assert (error.module, error.tick, error.mode, error.exit_code) == ("bad", 2, "step", 5)
    assert error.log_path == tmp_path / "runs" / "run" / "3" / "stderr_1"


def test_failure_quotes_stdout_when_stderr_is_empty(
    write_scenario: Callable[..., Path], simba_cli: Cli, tmp_path: Path
) -> None:
    """A module that says why on stdout only gets that quoted, not 'its stderr is empty'."""
    data = {"onTick": 0, "onMode": "step", "stdout": ["cannot open grid.nc"], "noStatus": True}
    scenario = write_scenario([spec("bad", 1, SCRIPTED, moduleData=data)])
    result = simba_cli("run", scenario, "-o", tmp_path / "runs", "--run-id", "r")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "wrote no status file" in result.stderr
    assert "last lines of its stdout:\n    | cannot open grid.nc" in result.stderr
    assert "stdout_1)" in result.stderr  # the full log it points to


def test_failure_while_the_next_module_runs_stops_the_run_cleanly(
    write_scenario: Callable[..., Path], tmp_path: Path
) -> None:
    """Work done while a module runs (here an observer that breaks on the second finished
    call) fails the run once that module has ended: the error reaches the caller, no
    module process is left, and summary.json says failed."""
    log = tmp_path / "calls.jsonl"
    scenario = write_scenario([spec("rec", 1, RECORD, moduleData={"log": str(log)})])
    finished: list[CallFinished] = []

    def breaks(event: Event) -> None:
        if isinstance(event, CallFinished):
            finished.append(event)
            if len(finished) == 2:
                raise RuntimeError("observer broke")

    loaded = load_scenario(scenario)
    engine = Engine(loaded, RunOptions(output_directory=tmp_path / "runs", run_id="r"), [breaks])
    with pytest.raises(RuntimeError, match="observer broke"):
        engine.run()
    run_dir = tmp_path / "runs" / "r"
    # The second call finished (its event broke the observer) while the third ran; the
    # third was let finish, and no fourth call started.
    assert len(records(log)) == 3
    assert summary_of(run_dir)["outcome"] == "failed"
    assert kill_leftovers(run_dir) == 0  # no module process of the run is left


def test_large_output_without_newlines_is_not_held_in_memory(
    write_scenario: Callable[..., Path], tmp_path: Path
) -> None:
    """The driver does not read a module's 150 MB single-line stdout into memory."""
    size = 150_000_000
    scenario = write_scenario(
        [spec("spew", 1, str(MODULES / "spew.sh"), tickIncrement=0, env={"SPEW_BYTES": str(size)})]
    )
    returncode, peak_mb = run_simba_measured("run", scenario, "-o", tmp_path / "runs", cwd=tmp_path)
    assert returncode == 0
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert (run_dir / "end" / "stdout_1").stat().st_size == size
    assert peak_mb < 100, f"the driver peaked at {peak_mb:.0f} MB"


# -- the typed summary --------------------------------------------------------------------


def test_run_result_summary_is_summary_json(
    write_scenario: Callable[..., Path], tmp_path: Path
) -> None:
    """RunResult.summary is typed, and its to_json() is summary.json key for key, in order."""
    scenario = write_scenario([spec("good", 2, OK), spec("also", 1, OK)])
    loaded = load_scenario(scenario)
    result = Engine(loaded, RunOptions(output_directory=tmp_path / "runs", run_id="r")).run()
    summary = result.summary
    assert summary.outcome == "success"
    assert summary.calls == result.calls
    assert summary.modules["good"].failures == 0
    assert summary.modules["good"].mean_wall_time is not None
    document = summary.to_json()
    on_disk = summary_of(result.run_dir)
    assert json.loads(json.dumps(document)) == on_disk
    assert list(document) == list(on_disk)
    assert list(document["modules"]["good"]) == list(on_disk["modules"]["good"])


def test_engine_summary_after_failure(write_scenario: Callable[..., Path], tmp_path: Path) -> None:
    """After a failed run Engine.summary says failed, with the error, as summary.json does."""
    data = {"onTick": 1, "onMode": "step", "exit": 4}
    scenario = write_scenario([spec("good", 2, OK), spec("bad", 1, SCRIPTED, moduleData=data)])
    engine = Engine(load_scenario(scenario), RunOptions(output_directory=tmp_path, run_id="f"))
    with pytest.raises(ModuleError):
        engine.run()
    assert engine.summary is not None
    assert engine.summary.outcome == "failed"
    assert engine.summary.error is not None and "exited with code 4" in engine.summary.error
    assert engine.summary.modules["bad"].failures == 1
    assert json.loads(json.dumps(engine.summary.to_json())) == summary_of(tmp_path / "f")
