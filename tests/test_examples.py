"""The scenarios in examples/ run as real processes and do what their READMEs say."""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from conftest import EXAMPLES, run_cli

QUICKSTART = EXAMPLES / "quickstart"
REFERENCE_EXAMPLE = EXAMPLES / "reference"

#: The quickstart's calls: 4 modules x (start + end), 3 daily modules x 120 steps, and
#: the weekly module's steps at ticks 0, 7, ..., 119.
QUICKSTART_CALLS = 4 * 2 + 3 * 120 + len(range(0, 120, 7))


def module_environment() -> dict[str, str]:
    """PATH with this interpreter first, so ``#!/usr/bin/env python3`` finds simba."""
    return {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}


@dataclass(frozen=True)
class ExampleRun:
    result: subprocess.CompletedProcess[str]
    run_dir: Path
    cwd: Path

    def trace(self) -> list[dict[str, Any]]:
        lines = (self.run_dir / ".simba" / "trace.jsonl").read_text().splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    def summary(self) -> dict[str, Any]:
        summary: dict[str, Any] = json.loads((self.run_dir / ".simba" / "summary.json").read_text())
        return summary


def run_example(directory: Path, cwd: Path) -> ExampleRun:
    result = run_cli(
        "run",
        directory,
        "-o",
        cwd / "out",
        "--run-id",
        "example",
        cwd=cwd,
        env=module_environment(),
        timeout=900,
    )
    return ExampleRun(result=result, run_dir=(cwd / "out" / "example").resolve(), cwd=cwd)


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory: pytest.TempPathFactory) -> ExampleRun:
    """One run of examples/quickstart, shared by the quickstart tests."""
    return run_example(QUICKSTART, tmp_path_factory.mktemp("quickstart"))


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory: pytest.TempPathFactory) -> ExampleRun:
    """One run of examples/reference, shared by the reference-layout tests."""
    return run_example(REFERENCE_EXAMPLE, tmp_path_factory.mktemp("reference"))


def assert_succeeded(run: ExampleRun) -> None:
    assert run.result.returncode == 0, run.result.stdout + run.result.stderr
    assert "Traceback" not in run.result.stderr


def report_rows(run: ExampleRun) -> list[dict[str, str]]:
    with (run.run_dir / "report.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


# -- examples/quickstart ---------------------------------------------------------------


def test_quickstart_modules_are_executable_scripts() -> None:
    """Every quickstart module is an executable script with a portable interpreter line."""
    shebangs = {
        "sir.py": "#!/usr/bin/env python3",
        "policy.py": "#!/usr/bin/env python3",
        "reporter.py": "#!/usr/bin/env python3",
        "weekly.sh": "#!/bin/sh",
    }
    for name, shebang in shebangs.items():
        path = QUICKSTART / name
        assert os.access(path, os.X_OK), f"{name} is not executable"
        assert path.read_text().splitlines()[0] == shebang
    code = [
        line
        for line in (QUICKSTART / "weekly.sh").read_text().splitlines()
        if not line.lstrip().startswith("#")
    ]
    words = " ".join(code).replace("(", " ").replace("|", " ").split()
    assert "jq" not in words and "bash" not in words
    assert not any(bashism in " ".join(code) for bashism in ("[[", "function ", "$'", "<<<"))


def test_quickstart_runs_without_an_activated_venv(tmp_path: Path) -> None:
    """The venv's own simba runs the quickstart with no venv on PATH (cron, pipx, batch jobs)."""
    simba = Path(sys.executable).with_name("simba")
    result = subprocess.run(
        [str(simba), "run", str(QUICKSTART), "-o", str(tmp_path / "out"), "--run-id", "bare"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    with (tmp_path / "out" / "bare" / "report.csv").open(newline="") as handle:
        assert len(list(csv.DictReader(handle))) == 120


def test_every_python_example_module_runs_through_the_python_placeholder() -> None:
    """A module that imports simba is started as ``{python} x.py`` in every example, so the
    examples run from any shell, as the quickstart does (no activated venv needed)."""
    commands = [
        command
        for schedule in EXAMPLES.rglob("schedule.json")
        for entry in json.loads(schedule.read_text())["schedule"]
        for command in [entry["command"]]
        if isinstance(command, str)
        and command.split()[-1].endswith(".py")
        and "simba" in (schedule.parent / command.split()[-1]).read_text()
    ]
    assert len(commands) >= 8
    assert [c for c in commands if not c.startswith("{python} ")] == []


def test_quickstart_reporter_step_run_twice_writes_the_same_report(
    quickstart: ExampleRun, tmp_path: Path
) -> None:
    """A reporter step that runs again (as after a resume) leaves the report as one run does."""
    config = json.loads((quickstart.run_dir / "031" / "module_4.json").read_text())
    (tmp_path / "report.csv").write_text(
        "".join((quickstart.run_dir / "report.csv").read_text().splitlines(True)[:31])
    )
    config.update(outputDirectory=str(tmp_path), statusFile=str(tmp_path / "status.json"))
    (tmp_path / "config.json").write_text(json.dumps(config))
    reports = []
    for _ in range(2):
        subprocess.run(
            [sys.executable, str(QUICKSTART / "reporter.py"), str(tmp_path / "config.json")],
            check=True,
            timeout=60,
        )
        reports.append((tmp_path / "report.csv").read_text())
    expected = "".join((quickstart.run_dir / "report.csv").read_text().splitlines(True)[:32])
    assert reports == [expected, expected]


def test_quickstart_interrupted_twice_and_resumed_gives_the_same_report(
    quickstart: ExampleRun, tmp_path: Path
) -> None:
    """Ctrl-C twice and --resume: report.csv is byte for byte the uninterrupted run's."""
    run_dir = tmp_path / "out" / "stopped"
    report = run_dir / "report.csv"
    first = [sys.executable, "-m", "simba", "run", str(QUICKSTART), "-o", str(tmp_path / "out")]
    commands = [
        [*first, "--run-id", "stopped"],
        [sys.executable, "-m", "simba", "run", "--resume", str(run_dir)],
    ]
    for command, rows in ((commands[0], 25), (commands[1], 70)):
        process = subprocess.Popen(
            command,
            cwd=tmp_path,
            env={**os.environ, **module_environment()},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            if report.exists() and report.read_text().count("\n") > rows:
                process.send_signal(signal.SIGINT)
                break
            time.sleep(0.005)
        _, stderr = process.communicate(timeout=60)
        assert process.returncode == 130, stderr
    resumed = run_cli(
        "run", "--resume", run_dir, cwd=tmp_path, env=module_environment(), timeout=600
    )
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert report.read_text() == (quickstart.run_dir / "report.csv").read_text()


def test_quickstart_runs_successfully(quickstart: ExampleRun) -> None:
    """`simba run examples/quickstart` exits 0 after every planned call succeeded."""
    assert_succeeded(quickstart)
    summary = quickstart.summary()
    assert summary["outcome"] == "success"
    assert summary["finalTick"] == 120
    assert summary["calls"] == summary["plannedCalls"] == QUICKSTART_CALLS
    assert all(record["outcome"] == "success" for record in quickstart.trace())


def test_quickstart_writes_only_into_its_run_directory(quickstart: ExampleRun) -> None:
    """The run leaves the example directory and the working directory untouched."""
    assert sorted(p.name for p in quickstart.cwd.iterdir()) == ["out"]
    assert not (QUICKSTART / "report.csv").exists()
    assert not list(QUICKSTART.glob("*.log"))


def test_quickstart_report_has_one_row_per_day(quickstart: ExampleRun) -> None:
    """report.csv has the promised columns and one row for each of the 120 simulated days."""
    with (quickstart.run_dir / "report.csv").open(newline="") as handle:
        header = next(csv.reader(handle))
    assert header == ["date", "S", "I", "R", "contactReduction"]
    rows = report_rows(quickstart)
    first = date(2024, 3, 2)
    assert [row["date"] for row in rows] == [
        (first + timedelta(days=day)).isoformat() for day in range(120)
    ]


def test_quickstart_epidemic_is_plausible(quickstart: ExampleRun) -> None:
    """S+I+R stays the population, S only falls, R only rises, and the epidemic spreads."""
    rows = report_rows(quickstart)
    susceptible = [float(row["S"]) for row in rows]
    infectious = [float(row["I"]) for row in rows]
    recovered = [float(row["R"]) for row in rows]
    for s, i, r in zip(susceptible, infectious, recovered, strict=True):
        assert s + i + r == pytest.approx(100_000, abs=0.5)
        assert s >= 0 and i > 0 and r >= 0
    assert susceptible == sorted(susceptible, reverse=True)
    assert recovered == sorted(recovered)
    assert max(infectious) > 3000  # it grew from 20 to above the policy's threshold
    assert 1_000 < recovered[-1] < 100_000
    final = quickstart.summary()["commonData"]["epidemic"]
    assert final["day"] == rows[-1]["date"] == "2024-06-29"
    assert final["S"] + final["I"] + final["R"] == pytest.approx(100_000)


def test_quickstart_policy_switches_at_its_thresholds(quickstart: ExampleRun) -> None:
    """Measures are imposed above 3000 infectious and lifted below 1000, at least once each."""
    rows = report_rows(quickstart)
    switches = []
    previous = 0.0
    for row in rows:
        reduction = float(row["contactReduction"])
        if reduction != previous:
            switches.append((row["date"], reduction, float(row["I"])))
        previous = reduction
    imposed = [s for s in switches if s[1] == 0.75]
    lifted = [s for s in switches if s[1] == 0.0]
    assert imposed and lifted, switches
    assert all(infectious > 3000 for _, _, infectious in imposed)
    assert all(infectious < 1000 for _, _, infectious in lifted)
    assert {float(row["contactReduction"]) for row in rows} == {0.0, 0.75}
    output = quickstart.result.stdout + quickstart.result.stderr
    assert output.count("measures imposed") == len(imposed)
    assert output.count("measures lifted") == len(lifted)
    assert f"the policy changed {len(switches)} times" in output


def test_quickstart_reduction_slows_the_epidemic(quickstart: ExampleRun) -> None:
    """A day after measures are imposed, new infections fall day by day until they are lifted."""
    rows = report_rows(quickstart)
    in_force = [i for i, row in enumerate(rows) if float(row["contactReduction"]) > 0]
    start = in_force[0]
    infectious = [float(row["I"]) for row in rows]
    end = next(i for i in range(start, len(rows)) if float(rows[i]["contactReduction"]) == 0)
    assert all(infectious[i + 1] < infectious[i] for i in range(start + 1, end - 1))


def test_quickstart_weekly_module_runs_every_seventh_tick(quickstart: ExampleRun) -> None:
    """weekly.sh steps at ticks 0, 7, ..., 119 (target min(k+7, 120)) and reports each week."""
    records = [r for r in quickstart.trace() if r["module"] == "weekly"]
    assert [r["mode"] for r in records] == ["start", *["step"] * 18, "end"]
    steps = [(r["tick"], r["targetTick"]) for r in records if r["mode"] == "step"]
    assert steps == [(k, min(k + 7, 120)) for k in range(0, 120, 7)]
    weekly_index = 3  # third entry of the schedule
    for week, (tick, target) in enumerate(steps, start=1):
        stdout = (quickstart.run_dir / f"{tick + 1:03d}" / f"stdout_{weekly_index}").read_text()
        assert stdout.startswith(f"INFO: week {week}: days {tick} to {target} ")
        assert (quickstart.run_dir / f"{tick + 1:03d}" / f"status_{weekly_index}.json").exists()
    output = quickstart.result.stdout + quickstart.result.stderr
    assert len(re.findall(r"week \d+: days \d+ to \d+", output)) == 18


def test_quickstart_calls_run_in_priority_order(quickstart: ExampleRun) -> None:
    """At every tick the model runs first, then the policy, the weekly bulletin, the reporter."""
    rank = {"sir": 0, "policy": 1, "weekly": 2, "reporter": 3}
    by_batch: dict[tuple[str, int], list[str]] = {}
    for record in quickstart.trace():
        by_batch.setdefault((record["mode"], record["tick"]), []).append(record["module"])
    assert len(by_batch) == 1 + 120 + 1
    for names in by_batch.values():
        assert names == sorted(names, key=rank.__getitem__)
        assert names[-1] == "reporter"


def test_quickstart_model_state_lives_in_module_data(quickstart: ExampleRun) -> None:
    """The SIR module keeps S, I, R in its moduleData and publishes the same state."""
    summary = quickstart.summary()
    data = summary["modules"]["sir"]["moduleData"]
    epidemic = summary["commonData"]["epidemic"]
    assert (data["S"], data["I"], data["R"]) == (epidemic["S"], epidemic["I"], epidemic["R"])
    step = json.loads((quickstart.run_dir / "051" / "module_1.json").read_text())
    assert step["currentTick"] == 50 and step["targetTick"] == 51
    assert step["moduleData"]["S"] == step["commonData"]["epidemic"]["S"]
    assert step["commonData"]["epidemic"]["day"] == "2024-04-20"


# -- examples/reference ----------------------------------------------------------------

REFERENCE_FINAL_TICK = 11
REFERENCE_TICK_FORMAT = "{:02d}"
UTC = timezone.utc


def reference_time(tick: int) -> datetime:
    """Ticks 0..6 are 10 minutes apart from midnight, then 30 minutes (intervals of the example)."""
    midnight = datetime(2024, 1, 1, tzinfo=UTC)
    if tick <= 6:
        return midnight + timedelta(minutes=10 * tick)
    return midnight + timedelta(hours=1) + timedelta(minutes=30 * (tick - 6))


def test_reference_clock_expectations() -> None:
    """The hand-computed clock of examples/reference: 01:00 at tick 6, 01:30 at 7, 03:30 at 11."""
    assert reference_time(6).isoformat() == "2024-01-01T01:00:00+00:00"
    assert reference_time(7).isoformat() == "2024-01-01T01:30:00+00:00"
    assert reference_time(REFERENCE_FINAL_TICK).isoformat() == "2024-01-01T03:30:00+00:00"
    driver = json.loads((REFERENCE_EXAMPLE / "driver.json").read_text())
    assert driver["endTime"] == "2024-01-01T03:30:00+00:00"
    assert driver["$schema"].endswith("/NSSAC/SIMBA_driver/master/schema/driver.json")


@dataclass(frozen=True)
class ExpectedModule:
    index: int
    name: str
    increment: int
    module_data: dict[str, Any] | None


def reference_modules() -> list[ExpectedModule]:
    schedule = json.loads((REFERENCE_EXAMPLE / "schedule.json").read_text())
    return [
        ExpectedModule(
            index=i,
            name=entry["name"],
            increment=entry.get("tickIncrement", 1),
            module_data=entry.get("moduleData"),
        )
        for i, entry in enumerate(schedule["schedule"], start=1)
    ]


def expected_documents(run_dir: Path) -> dict[Path, dict[str, Any]]:
    """Every config document DESIGN §3-§5 says the reference example's run writes, by path."""
    schedule = json.loads((REFERENCE_EXAMPLE / "schedule.json").read_text())
    common = schedule["commonData"]
    documents: dict[Path, dict[str, Any]] = {}
    for module in reference_modules():
        calls: list[tuple[str, int, int | None, str]] = [("start", 0, None, "00")]
        for tick in range(0, REFERENCE_FINAL_TICK, module.increment):
            target = min(tick + module.increment, REFERENCE_FINAL_TICK)
            calls.append(("step", tick, target, f"{tick + 1:02d}"))
        calls.append(("end", REFERENCE_FINAL_TICK, None, "end"))
        previous: int | None = None
        for count, (mode, tick, target, directory) in enumerate(calls):
            document: dict[str, Any] = {
                "mode": mode,
                "statusFile": str(run_dir / directory / f"status_{module.index}.json"),
                "outputDirectory": str(run_dir),
                "tickFormat": REFERENCE_TICK_FORMAT,
                "currentTick": tick,
                "currentTime": reference_time(tick).isoformat(),
            }
            if mode != "start":
                assert previous is not None
                document["lastRunTick"] = previous
                document["lastRunTime"] = reference_time(previous).isoformat()
            if mode == "step":
                assert target is not None
                document["targetTick"] = target
                document["targetTime"] = reference_time(target).isoformat()
            document["commonData"] = common
            if module.module_data is not None:
                # bin/counter.py counts the calls of a module that has moduleData.
                calls_before = {"calls": count} if count else {}
                document["moduleData"] = {**module.module_data, **calls_before}
            documents[run_dir / directory / f"module_{module.index}.json"] = document
            previous = tick
    return documents


def test_reference_example_runs(reference_run: ExampleRun) -> None:
    """`simba run examples/reference` exits 0 after 21 calls (13 + 8 of the two modules)."""
    assert_succeeded(reference_run)
    summary = reference_run.summary()
    assert summary["outcome"] == "success"
    assert summary["finalTick"] == REFERENCE_FINAL_TICK
    assert {name: m["calls"] for name, m in summary["modules"].items()} == {
        "EveryTick": 13,
        "EveryOtherTick": 8,
    }
    assert summary["calls"] == 21


def test_reference_example_writes_exactly_the_expected_calls(reference_run: ExampleRun) -> None:
    """Config documents appear in exactly the directories of DESIGN §7, each with its status."""
    expected = expected_documents(reference_run.run_dir)
    written = {
        path
        for path in reference_run.run_dir.glob("*/module_*.json")
        if path.parent.name != "start"  # the symlink to 00
    }
    assert written == set(expected)
    for path in expected:
        status = path.with_name(path.name.replace("module_", "status_"))
        assert json.loads(status.read_text())["status"] == "success"
    tick_dirs = sorted(p.name for p in reference_run.run_dir.iterdir() if p.name[0].isdigit())
    assert tick_dirs == [f"{tick:02d}" for tick in range(REFERENCE_FINAL_TICK + 1)]
    assert (reference_run.run_dir / "start").readlink() == Path("00")


def test_reference_example_config_documents_match_the_contract(reference_run: ExampleRun) -> None:
    """Every field of every config document is what DESIGN §3-§5 computes for its call."""
    for path, expected in expected_documents(reference_run.run_dir).items():
        written = json.loads(path.read_text())
        assert written == expected, f"{path.relative_to(reference_run.run_dir)}"


def test_reference_example_interval_boundary(reference_run: ExampleRun) -> None:
    """The step at tick 6 goes from 01:00 to tick 7 at 01:30 and lands in directory 07."""
    step = json.loads((reference_run.run_dir / "07" / "module_1.json").read_text())
    assert (step["currentTick"], step["currentTime"]) == (6, "2024-01-01T01:00:00+00:00")
    assert (step["targetTick"], step["targetTime"]) == (7, "2024-01-01T01:30:00+00:00")
    last = json.loads((reference_run.run_dir / "11" / "module_2.json").read_text())
    assert (last["currentTick"], last["targetTick"]) == (10, 11)
    assert last["targetTime"] == "2024-01-01T03:30:00+00:00"


def test_reference_example_calls_in_priority_order(reference_run: ExampleRun) -> None:
    """The "Infinity" module runs before the other one in every start, step and end batch."""
    order = [(r["mode"], r["tick"], r["module"]) for r in reference_run.trace()]
    expected: list[tuple[str, int, str]] = [
        ("start", 0, "EveryTick"),
        ("start", 0, "EveryOtherTick"),
    ]
    for tick in range(REFERENCE_FINAL_TICK):
        expected.append(("step", tick, "EveryTick"))
        if tick % 2 == 0:
            expected.append(("step", tick, "EveryOtherTick"))
    expected += [("end", 11, "EveryTick"), ("end", 11, "EveryOtherTick")]
    assert order == expected
    assert "[EveryTick] INFO: step from tick 6 (2024-01-01T01:00:00+00:00) to tick 7" in (
        reference_run.result.stdout
    )
