"""Where SIMBA deliberately differs from the reference driver (docs/compatibility.rst).

Each test pins one difference: a bug of the reference ``simbaDriver`` that SIMBA fixes,
or a place where SIMBA follows the reference's documentation instead of its code.
Runs are real ``simba`` processes with small POSIX sh modules written per test.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Callable
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import pytest
from conftest import EXAMPLE_SOURCES, MODULES, ROOT, copy_example

Cli = Callable[..., subprocess.CompletedProcess[str]]
Writer = Callable[..., Path]

OK = str(MODULES / "ok.sh")
SCRIPTED = str(MODULES / "scripted.py")

#: The start of every test module: reads top-level values of its config with sed.
PRELUDE = r"""#!/bin/sh
config=$1
value() {
    sed -n "s/^  \"$1\": \"\{0,1\}\([^\",]*\)\"\{0,1\},\{0,1\}\$/\1/p" "$config"
}
status=$(value statusFile)
mode=$(value mode)
tick=$(value currentTick)
succeed() {
    printf '{"status": "success"}\n' > "$status"
}
"""


def sh_module(directory: Path, name: str, body: str) -> str:
    """Write an executable sh module: the prelude, then ``body``; return its path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(PRELUDE + body)
    path.chmod(0o755)
    return str(path)


def driver(end: str, *intervals: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """A driver section from midnight 2024-01-01 (naive) to ``end``."""
    return {
        "initialTime": fields.pop("initialTime", "2024-01-01T00:00:00"),
        "endTime": end,
        "scheduleIntervals": list(intervals) or [{"tickDuration": "P1D"}],
        **fields,
    }


def spec(name: str, priority: float | str, command: str = OK, **fields: Any) -> dict[str, Any]:
    return {"name": name, "command": command, "priority": priority, **fields}


def run(cli: Cli, scenario: Path, out: Path, *args: str) -> tuple[Any, Path]:
    """``simba run SCENARIO -o OUT --run-id r``: the process result and the run directory."""
    result = cli("run", scenario, "-o", out, "--run-id", "r", *args)
    return result, out / "r"


def succeeded(result: subprocess.CompletedProcess[str]) -> bool:
    return result.returncode == 0 and "Traceback" not in result.stderr


def trace(run_dir: Path) -> list[dict[str, Any]]:
    lines = (run_dir / ".simba" / "trace.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def config(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(path.read_text())
    return document


def steps(run_dir: Path, module: str) -> list[tuple[int, int]]:
    """(tick, target tick) of every step of ``module``."""
    return [
        (r["tick"], r["targetTick"])
        for r in trace(run_dir)
        if r["module"] == module and r["mode"] == "step"
    ]


# -- order and clock ---------------------------------------------------------------------


def test_priority_higher_runs_first(write_scenario: Writer, simba_cli: Cli, tmp_path: Path) -> None:
    """Among modules due at a tick the higher priority runs first, "Infinity" before all."""
    scenario = write_scenario(
        [
            spec("low", 1),
            spec("top", "Infinity"),
            spec("bottom", "-Infinity"),
            spec("high", 2),
        ]
    )
    result, run_dir = run(simba_cli, scenario, tmp_path / "out")
    assert succeeded(result), result.stderr
    batches: dict[tuple[str, int], list[str]] = {}
    for record in trace(run_dir):
        batches.setdefault((record["mode"], record["tick"]), []).append(record["module"])
    assert len(batches) == 5  # start, steps at 0, 1, 2, end
    assert all(names == ["top", "high", "low", "bottom"] for names in batches.values())


@pytest.mark.parametrize("final_tick", [9, 10, 100, 1000])
def test_tick_format_has_the_digits_of_the_final_tick(
    final_tick: int, write_scenario: Writer, simba_cli: Cli, tmp_path: Path
) -> None:
    """tickFormat is {:0Nd} with N the digits of the final tick, also at 10, 100 and 1000."""
    width = len(str(final_tick))
    scenario = write_scenario(
        [spec("late", 1, startTick=final_tick - 1)],
        driver(f"PT{final_tick}M", {"tickDuration": "PT1M"}),
    )
    result, run_dir = run(simba_cli, scenario, tmp_path / "out")
    assert succeeded(result), result.stderr
    start = config(run_dir / ("0" * width) / "module_1.json")
    assert start["tickFormat"] == f"{{:0{width}d}}"
    step = config(run_dir / str(final_tick) / "module_1.json")
    assert (step["currentTick"], step["targetTick"]) == (final_tick - 1, final_tick)
    assert (run_dir / "start").readlink() == Path("0" * width)


@pytest.mark.parametrize("count", [9, 10])
def test_module_file_numbering_has_the_digits_of_the_module_count(
    count: int, write_scenario: Writer, simba_cli: Cli, tmp_path: Path
) -> None:
    """With 10 modules the files are module_01.json .. module_10.json, all of one width."""
    scenario = write_scenario([spec(f"m{i}", i, tickIncrement=0) for i in range(count)])
    result, run_dir = run(simba_cli, scenario, tmp_path / "out")
    assert succeeded(result), result.stderr
    width = len(str(count))
    expected = {f"module_{i:0{width}d}.json" for i in range(1, count + 1)}
    assert {p.name for p in (run_dir / "0").glob("module_*.json")} == expected
    assert {p.name for p in (run_dir / "end").glob("status_*.json")} == {
        name.replace("module_", "status_") for name in expected
    }


def test_final_tick_zero_runs_start_and_end(
    write_scenario: Writer, simba_cli: Cli, tmp_path: Path
) -> None:
    """A scenario whose endTime is its initialTime runs the start and end calls and exits 0."""
    scenario = write_scenario([spec("a", 1)], driver("2024-01-01T00:00:00"))
    result, run_dir = run(simba_cli, scenario, tmp_path / "out")
    assert succeeded(result), result.stderr
    assert [(r["mode"], r["tick"]) for r in trace(run_dir)] == [("start", 0), ("end", 0)]
    end = config(run_dir / "end" / "module_1.json")
    assert (end["currentTick"], end["lastRunTick"], end["tickFormat"]) == (0, 0, "{:01d}")


def test_p1w_is_seven_days(write_scenario: Writer, simba_cli: Cli, tmp_path: Path) -> None:
    """A tickDuration of P1W is a week: ticks are 7 days apart."""
    scenario = write_scenario([spec("a", 1)], driver("P4W", {"tickDuration": "P1W"}))
    result, run_dir = run(simba_cli, scenario, tmp_path / "out")
    assert succeeded(result), result.stderr
    times = [config(run_dir / str(k + 1) / "module_1.json")["targetTime"] for k in range(4)]
    assert times == [
        "2024-01-08T00:00:00",
        "2024-01-15T00:00:00",
        "2024-01-22T00:00:00",
        "2024-01-29T00:00:00",
    ]


def test_p1m_is_calendar_months(write_scenario: Writer, simba_cli: Cli, tmp_path: Path) -> None:
    """Monthly ticks from Jan 31 fall on Feb 29, Mar 31 and Apr 30: calendar months, no drift."""
    scenario = write_scenario(
        [spec("a", 1)],
        driver(
            "2024-04-30T00:00:00",
            {"tickDuration": "P1M"},
            initialTime="2024-01-31T00:00:00",
        ),
    )
    result, run_dir = run(simba_cli, scenario, tmp_path / "out")
    assert succeeded(result), result.stderr
    times = [config(run_dir / str(k + 1) / "module_1.json")["targetTime"] for k in range(3)]
    assert times == ["2024-02-29T00:00:00", "2024-03-31T00:00:00", "2024-04-30T00:00:00"]
    assert steps(run_dir, "a") == [(0, 1), (1, 2), (2, 3)]


#: The reference example's intervals: 10 minutes to tick 6, 30 minutes to tick 100, hours.
THREE_INTERVALS = (
    {"endTick": 6, "tickDuration": "PT600S"},
    {"endTick": 100, "tickDuration": "PT1800S"},
    {"tickDuration": "PT3600S"},
)


@pytest.mark.parametrize(
    ("end_time", "final_tick", "final_time"),
    [
        ("03:30", 11, "03:30"),  # the reference runs on to tick 12
        ("03:15", 11, "03:30"),
        ("01:00", 6, "01:00"),
        ("01:10", 7, "01:30"),
    ],
)
def test_end_time_stops_at_the_first_tick_reaching_it(
    end_time: str,
    final_tick: int,
    final_time: str,
    write_scenario: Writer,
    simba_cli: Cli,
    tmp_path: Path,
) -> None:
    """The final tick is the first whose time is at or after endTime, in any interval."""
    scenario = write_scenario([spec("a", 1)], driver(f"2024-01-01T{end_time}:00", *THREE_INTERVALS))
    result, run_dir = run(simba_cli, scenario, tmp_path / "out")
    assert succeeded(result), result.stderr
    end = config(run_dir / "end" / "module_1.json")
    assert (end["currentTick"], end["currentTime"]) == (final_tick, f"2024-01-01T{final_time}:00")
    assert steps(run_dir, "a")[-1] == (final_tick - 1, final_tick)


def test_end_time_may_be_an_iso_duration(
    write_scenario: Writer, simba_cli: Cli, tmp_path: Path
) -> None:
    """endTime "PT1209600S" (14 days, as the reference documents it) counts from initialTime."""
    scenario = write_scenario(
        [spec("a", 1)],
        driver("PT1209600S", *THREE_INTERVALS, initialTime="2024-01-01T00:00:00+00:00"),
    )
    result = simba_cli("validate", "--json", scenario)
    assert result.returncode == 0, result.stderr
    facts = json.loads(result.stdout)
    # 6 ticks of 10 minutes (1 h), 94 of 30 minutes (47 h), then hours: 336 h at tick 388.
    assert facts["finalTick"] == 6 + 94 + (336 - 48) == 388
    assert facts["finalTime"] == "2024-01-15T00:00:00+00:00"


def test_interval_boundary_tick_is_not_skipped(
    write_scenario: Writer, simba_cli: Cli, tmp_path: Path
) -> None:
    """Tick 6 (01:00, end of the first interval) steps to tick 7 at 01:30; no tick is skipped."""
    scenario = write_scenario([spec("a", 1)], driver("2024-01-01T03:30:00", *THREE_INTERVALS))
    result, run_dir = run(simba_cli, scenario, tmp_path / "out")
    assert succeeded(result), result.stderr
    assert steps(run_dir, "a") == [(k, k + 1) for k in range(11)]
    times = {
        k: config(run_dir / f"{k + 1:02d}" / "module_1.json")["currentTime"][11:16]
        for k in range(11)
    }
    assert times == {
        0: "00:00",
        1: "00:10",
        2: "00:20",
        3: "00:30",
        4: "00:40",
        5: "00:50",
        6: "01:00",
        7: "01:30",
        8: "02:00",
        9: "02:30",
        10: "03:00",
    }
    boundary = config(run_dir / "07" / "module_1.json")
    assert boundary["targetTime"] == "2024-01-01T01:30:00"


def test_naive_date_times_stay_naive(
    write_scenario: Writer, simba_cli: Cli, tmp_path: Path
) -> None:
    """Date-times without a time zone run, and the config documents keep them naive."""
    scenario = write_scenario([spec("a", 1)], driver("2024-01-03T00:00:00"))
    result, run_dir = run(simba_cli, scenario, tmp_path / "out")
    assert succeeded(result), result.stderr
    step = config(run_dir / "1" / "module_1.json")
    assert (step["currentTime"], step["targetTime"]) == (
        "2024-01-01T00:00:00",
        "2024-01-02T00:00:00",
    )


def test_time_zones_are_kept_as_written(
    write_scenario: Writer, simba_cli: Cli, tmp_path: Path
) -> None:
    """An offset in initialTime appears unchanged in every config document."""
    scenario = write_scenario(
        [spec("a", 1)],
        driver("P2D", initialTime="2024-01-01T06:00:00-05:00"),
    )
    result, run_dir = run(simba_cli, scenario, tmp_path / "out")
    assert succeeded(result), result.stderr
    assert config(run_dir / "end" / "module_1.json")["currentTime"] == "2024-01-03T06:00:00-05:00"


def test_mixed_naive_and_aware_times_are_a_config_error(
    write_scenario: Writer, simba_cli: Cli, tmp_path: Path
) -> None:
    """initialTime with a time zone and endTime without one is a clear config error, exit 2."""
    scenario = write_scenario(
        [spec("a", 1)],
        driver("2024-01-03T00:00:00", initialTime="2024-01-01T00:00:00+00:00"),
    )
    result, _ = run(simba_cli, scenario, tmp_path / "out")
    assert result.returncode == 2
    assert "time zone" in result.stderr and "Traceback" not in result.stderr


def test_initial_tick_other_than_zero(
    write_scenario: Writer, simba_cli: Cli, tmp_path: Path
) -> None:
    """initialTick 5 numbers the ticks 5..8: start in 5/, steps at 5, 6, 7, end at 8."""
    scenario = write_scenario([spec("a", 1)], driver("P3D", initialTick=5))
    result, run_dir = run(simba_cli, scenario, tmp_path / "out")
    assert succeeded(result), result.stderr
    start = config(run_dir / "5" / "module_1.json")
    assert (start["mode"], start["currentTick"], start["currentTime"]) == (
        "start",
        5,
        "2024-01-01T00:00:00",
    )
    assert steps(run_dir, "a") == [(5, 6), (6, 7), (7, 8)]
    assert config(run_dir / "8" / "module_1.json")["currentTime"] == "2024-01-03T00:00:00"
    assert config(run_dir / "end" / "module_1.json")["currentTick"] == 8


def test_end_tick_is_the_last_target_tick(
    write_scenario: Writer, simba_cli: Cli, tmp_path: Path
) -> None:
    """A module's endTick is its last target tick: it steps while the tick is below endTick."""
    scenario = write_scenario(
        [spec("daily", 2, endTick=3), spec("every2", 1, endTick=3, tickIncrement=2)],
        driver("P5D"),
    )
    result, run_dir = run(simba_cli, scenario, tmp_path / "out")
    assert succeeded(result), result.stderr
    assert steps(run_dir, "daily") == [(0, 1), (1, 2), (2, 3)]
    assert steps(run_dir, "every2") == [(0, 2), (2, 3)]
    assert config(run_dir / "end" / "module_1.json")["lastRunTick"] == 2


def test_tick_increment_zero_means_start_and_end_only(
    write_scenario: Writer, simba_cli: Cli, tmp_path: Path
) -> None:
    """A module with tickIncrement 0 gets its start and end calls and no step."""
    scenario = write_scenario([spec("setup", 2, tickIncrement=0), spec("model", 1)])
    result, run_dir = run(simba_cli, scenario, tmp_path / "out")
    assert succeeded(result), result.stderr
    records = trace(run_dir)
    assert [r["mode"] for r in records if r["module"] == "setup"] == ["start", "end"]
    assert steps(run_dir, "model") == [(0, 1), (1, 2), (2, 3)]
    end = config(run_dir / "end" / "module_1.json")
    assert (end["lastRunTick"], end["currentTick"]) == (0, 3)


# -- failures ------------------------------------------------------------------------------


def test_nonzero_exit_fails_the_run(write_scenario: Writer, simba_cli: Cli, tmp_path: Path) -> None:
    """A module that exits 3 fails the run (exit 1) even though it wrote a success status."""
    module = sh_module(
        tmp_path / "bin",
        "exits3.sh",
        'succeed\nif [ "$mode" = step ] && [ "$tick" = 1 ]; then exit 3; fi\n',
    )
    scenario = write_scenario([spec("flaky", 1, module)])
    result, run_dir = run(simba_cli, scenario, tmp_path / "out")
    assert result.returncode == 1
    assert "module 'flaky' (step at tick 1) exited with code 3" in result.stderr
    assert "Traceback" not in result.stderr
    assert [(r["mode"], r["tick"], r["outcome"]) for r in trace(run_dir)][-1] == (
        "step",
        1,
        "exit",
    )
    assert not (run_dir / "end").exists()


#: Module bodies that break the status protocol, and what SIMBA's message says.
STATUS_FAILURES = {
    "missing_at_start": (
        '[ "$mode" = start ] || succeed\n',
        "start call at tick 0",
        "wrote no status file",
    ),
    "malformed_at_step": (
        'if [ "$mode" = step ]; then printf \'{"status": \' > "$status"; else succeed; fi\n',
        "step at tick 0",
        "is unusable: it is not valid JSON",
    ),
    "not_an_object": (
        'if [ "$mode" = step ]; then printf \'[1, 2]\' > "$status"; else succeed; fi\n',
        "step at tick 0",
        "not a JSON object",
    ),
    "fail_at_step": (
        'if [ "$mode" = step ] && [ "$tick" = 2 ]; then\n'
        '    printf \'{"status": "fail", "message": "out of memory"}\' > "$status"\n'
        "else succeed; fi\n",
        "step at tick 2",
        "reported status 'fail': out of memory",
    ),
    "failure_at_end": (
        'if [ "$mode" = end ]; then printf \'{"status": "failure"}\' > "$status"; '
        "else succeed; fi\n",
        "end call at tick 3",
        "reported status 'failure'",
    ),
}


@pytest.mark.parametrize("case", sorted(STATUS_FAILURES))
def test_status_file_problems_are_clear_errors(
    case: str, write_scenario: Writer, simba_cli: Cli, tmp_path: Path
) -> None:
    """A missing, malformed or failing status (also in end) stops the run with a message, exit 1."""
    body, where, reason = STATUS_FAILURES[case]
    scenario = write_scenario([spec("broken", 1, sh_module(tmp_path / "bin", "m.sh", body))])
    result, run_dir = run(simba_cli, scenario, tmp_path / "out")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert f"module 'broken' ({where})" in result.stderr
    assert reason in result.stderr
    assert json.loads((run_dir / ".simba" / "summary.json").read_text())["outcome"] == "failed"


def test_stale_status_file_does_not_count(
    write_scenario: Writer, simba_cli: Cli, tmp_path: Path
) -> None:
    """A status file left at a call's path before the call is removed, so it never counts."""
    body = (
        'if [ "$mode" = start ]; then\n'
        "    out=$(value outputDirectory)\n"
        '    mkdir -p "$out/1"\n'
        '    printf \'{"status": "success"}\' > "$out/1/status_1.json"\n'
        "    succeed\n"
        'elif [ "$mode" = end ]; then\n'
        "    succeed\n"
        "fi\n"  # the step at tick 0 (directory 1) writes nothing
    )
    scenario = write_scenario([spec("lazy", 1, sh_module(tmp_path / "bin", "m.sh", body))])
    result, run_dir = run(simba_cli, scenario, tmp_path / "out")
    assert result.returncode == 1
    assert "module 'lazy' (step at tick 0)" in result.stderr
    assert "wrote no status file" in result.stderr
    assert not (run_dir / "1" / "status_1.json").exists()


# -- files ------------------------------------------------------------------------------------


@pytest.mark.parametrize("missing", ["schedule.json", "driver.json", "directory"])
def test_missing_scenario_files_are_clear_errors(
    missing: str, write_scenario: Writer, simba_cli: Cli, tmp_path: Path
) -> None:
    """A missing scenario file or directory is named in a message, exit 2, no traceback."""
    scenario = write_scenario([spec("a", 1)])
    if missing == "directory":
        shutil.rmtree(scenario)
    else:
        (scenario / missing).unlink()
    result, _ = run(simba_cli, scenario, tmp_path / "out")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "TypeError" not in result.stderr
    expected = scenario.name if missing == "directory" else missing
    assert expected in result.stderr


def test_config_error_leaves_no_output_directory(
    write_scenario: Writer, simba_cli: Cli, tmp_path: Path
) -> None:
    """A scenario that fails to load creates no directory, neither -o nor the default runs/."""
    scenario = write_scenario([spec("a", 1, tickIncrement=-1)])
    work = tmp_path / "work"
    work.mkdir()
    with_option = simba_cli("run", scenario, "-o", work / "out", cwd=work)
    without = simba_cli("run", scenario, cwd=work)
    assert with_option.returncode == without.returncode == 2
    assert list(work.iterdir()) == []


def test_unknown_key_is_an_error_with_a_hint(
    write_scenario: Writer, simba_cli: Cli, tmp_path: Path
) -> None:
    """A misspelt key is a config error that suggests the right spelling, not ignored."""
    scenario = write_scenario([spec("a", 1, tickIncrment=2)])
    result, _ = run(simba_cli, scenario, tmp_path / "out")
    assert result.returncode == 2
    assert "unknown key 'tickIncrment' (did you mean 'tickIncrement'?)" in result.stderr


def test_validation_reports_every_problem_at_once(
    write_scenario: Writer, simba_cli: Cli, tmp_path: Path
) -> None:
    """All problems of a scenario are listed in one go, each with its file and JSON path."""
    scenario = write_scenario(
        [spec("a", 1, tickIncrement=-1), spec("b", 1), spec("c", 2, command="./missing.sh")],
        driver("2024-01-03T00:00:00", {"tickDuration": "PT0S"}),
    )
    result, _ = run(simba_cli, scenario, tmp_path / "out")
    assert result.returncode == 2
    assert "schedule[0].tickIncrement" in result.stderr
    assert "schedule[1].priority" in result.stderr
    assert "schedule[2].command" in result.stderr
    assert "scheduleIntervals[0].tickDuration" in result.stderr


def test_undeclared_common_data_key_is_dropped_with_a_warning(
    write_scenario: Writer, simba_cli: Cli, tmp_path: Path
) -> None:
    """A returned commonData key the schedule does not declare is ignored with a warning."""
    body = (
        'if [ "$mode" = start ]; then\n'
        '    printf \'{"status": "success", "commonData": {"level": 5, "extra": 1}}\' > "$status"\n'
        "else succeed; fi\n"
    )
    module = sh_module(tmp_path / "bin", "m.sh", body)
    scenario = write_scenario(
        {
            "schedule": [spec("writer", 1, module, updateCommonData=True)],
            "commonData": {"level": 0},
        }
    )
    result, run_dir = run(simba_cli, scenario, tmp_path / "out")
    assert succeeded(result), result.stderr
    output = result.stdout + result.stderr
    assert "warning" in output and "'extra'" in output
    assert config(run_dir / "1" / "module_1.json")["commonData"] == {"level": 5}


def test_common_data_from_a_module_without_update_common_data_warns(
    write_scenario: Writer, simba_cli: Cli, tmp_path: Path
) -> None:
    """commonData returned by a module without updateCommonData is ignored with a warning."""
    body = (
        'if [ "$mode" = start ]; then\n'
        '    printf \'{"status": "success", "commonData": {"level": 5}}\' > "$status"\n'
        "else succeed; fi\n"
    )
    scenario = write_scenario(
        {
            "schedule": [spec("reader", 1, sh_module(tmp_path / "bin", "m.sh", body))],
            "commonData": {"level": 0},
        }
    )
    result, run_dir = run(simba_cli, scenario, tmp_path / "out")
    assert succeeded(result), result.stderr
    assert "updateCommonData" in result.stdout + result.stderr
    assert config(run_dir / "1" / "module_1.json")["commonData"] == {"level": 0}


def test_start_symlink_is_relative(write_scenario: Writer, simba_cli: Cli, tmp_path: Path) -> None:
    """The start link points at its sibling directory, so a moved or re-run directory works."""
    scenario = write_scenario([spec("a", 1)])
    result, run_dir = run(simba_cli, scenario, tmp_path / "out")
    assert succeeded(result), result.stderr
    assert (run_dir / "start").readlink() == Path("0")
    moved = tmp_path / "moved"
    run_dir.rename(moved)
    assert (moved / "start" / "module_1.json").is_file()
    moved.rename(run_dir)
    again, _ = run(simba_cli, scenario, tmp_path / "out", "--overwrite")
    assert succeeded(again), again.stderr
    assert (run_dir / "start" / "module_1.json").is_file()


def test_existing_run_directory_is_not_overwritten_silently(
    write_scenario: Writer, simba_cli: Cli, tmp_path: Path
) -> None:
    """Running again into an existing run directory is refused (exit 2) without --overwrite."""
    scenario = write_scenario([spec("a", 1)])
    first, run_dir = run(simba_cli, scenario, tmp_path / "out")
    assert succeeded(first), first.stderr
    marker = run_dir / "keep.txt"
    marker.write_text("results")
    second, _ = run(simba_cli, scenario, tmp_path / "out")
    assert second.returncode == 2
    assert "--overwrite" in second.stderr
    assert marker.read_text() == "results"


def test_nothing_is_written_outside_the_run_directory(
    write_scenario: Writer, simba_cli: Cli, tmp_path: Path
) -> None:
    """A run writes no log or other file into the working or the scenario directory."""
    scenario = write_scenario([spec("a", 1)])
    before = sorted(p.name for p in scenario.iterdir())
    work = tmp_path / "work"
    work.mkdir()
    result = simba_cli("run", scenario, "-o", tmp_path / "out", cwd=work)
    assert succeeded(result), result.stderr
    assert list(work.iterdir()) == []
    assert sorted(p.name for p in scenario.iterdir()) == before


def test_default_output_directory_is_runs(
    write_scenario: Writer, simba_cli: Cli, tmp_path: Path
) -> None:
    """Without outputDirectory or -o, run directories go to runs/ in the working directory."""
    scenario = write_scenario([spec("a", 1)])
    work = tmp_path / "work"
    work.mkdir()
    result = simba_cli("run", scenario, "--run-id", "r", cwd=work)
    assert succeeded(result), result.stderr
    assert [p.name for p in work.iterdir()] == ["runs"]
    assert (work / "runs" / "r" / "end" / "module_1.json").is_file()


def test_module_working_directory_is_the_scenario_directory(
    write_scenario: Writer, simba_cli: Cli, tmp_path: Path
) -> None:
    """A module runs in the scenario's directory unless workingDirectory says otherwise."""
    module = sh_module(tmp_path / "bin", "m.sh", 'echo "INFO: cwd $(pwd -P)"\nsucceed\n')
    scenario = write_scenario([spec("a", 1, module)])
    other = write_scenario(
        [spec("a", 1, module, workingDirectory="data")], name=f"{scenario.name}-wd"
    )
    (other / "data").mkdir()
    for directory, expected in ((scenario, scenario), (other, other / "data")):
        out = tmp_path / f"out-{directory.name}"
        result = simba_cli("run", directory, "-o", out, "--run-id", "r")
        assert succeeded(result), result.stderr
        stdout = (out / "r" / "0" / "stdout_1").read_text()
        assert stdout == f"INFO: cwd {expected.resolve()}\n"


def test_bare_command_name_resolves_in_the_scenario_directory(
    write_scenario: Writer, simba_cli: Cli, tmp_path: Path
) -> None:
    """A command naming a file in the scenario directory without ./ runs that file."""
    scenario = write_scenario([spec("a", 1, "module.sh")])
    shutil.copy(OK, scenario / "module.sh")
    result, run_dir = run(simba_cli, scenario, tmp_path / "out")
    assert succeeded(result), result.stderr
    assert len(trace(run_dir)) == 5


@pytest.mark.parametrize(
    "command",
    [
        "sh -c '{ok} \"$1\"' wrapper",  # the reference's bash -c '... "$1"' name wrapper
        "awk '{{print $1}}' /dev/null && {ok}",  # a $1 that is awk's, not the shell's
    ],
    ids=["wrapper", "awk"],
)
def test_shell_command_naming_dollar_one_gets_the_config_path_appended(
    write_scenario: Writer, simba_cli: Cli, tmp_path: Path, command: str
) -> None:
    """A shell command gets the config path appended even where its text names $1."""
    scenario = write_scenario([spec("a", 1, command.format(ok=OK))])
    result, run_dir = run(simba_cli, scenario, tmp_path / "out")
    assert succeeded(result), result.stderr
    assert len(trace(run_dir)) == 5


def test_end_tick_before_start_tick_is_refused(
    write_scenario: Writer, simba_cli: Cli, tmp_path: Path
) -> None:
    """endTick before startTick is a configuration error (the reference refuses it too)."""
    scenario = write_scenario([spec("a", 1, OK, startTick=2, endTick=1)])
    result = simba_cli("validate", scenario)
    assert result.returncode == 2, result.stdout
    assert "schedule[0].endTick: endTick 1 is before startTick 2" in result.stderr
    result, run_dir = run(simba_cli, scenario, tmp_path / "out")
    assert result.returncode == 2 and not run_dir.exists()


def run_keeper_and_front(
    write_scenario: Writer, simba_cli: Cli, tmp_path: Path, writes: dict[str, Any]
) -> tuple[Any, Path]:
    """Run a trusted 'keeper' that returns ``writes`` before a storeFront module 'front',
    with storeFronts declared; the run must succeed."""
    scenario = write_scenario(
        {
            "schedule": [
                spec("keeper", 2, SCRIPTED, updateCommonData=True, moduleData=writes),
                spec("front", 1, SCRIPTED, storeFront=True),  # reads its config as JSON
            ],
            "commonData": {"storeFronts": {}},
        }
    )
    result, run_dir = run(simba_cli, scenario, tmp_path / "out")
    assert succeeded(result), result.stderr
    return result, run_dir


def test_trusted_module_may_maintain_a_declared_store_fronts_key(
    write_scenario: Writer, simba_cli: Cli, tmp_path: Path
) -> None:
    """A trusted module's storeFronts reaches commonData when declared; a store front adds to it."""
    writes = {"commonData": {"storeFronts": {"ledger": {"entries": 3}}}}
    result, run_dir = run_keeper_and_front(write_scenario, simba_cli, tmp_path, writes)
    assert "storeFronts" not in result.stdout + result.stderr  # no warning at all
    summary = json.loads((run_dir / ".simba" / "summary.json").read_text())
    fronts = summary["commonData"]["storeFronts"]
    assert fronts["ledger"] == {"entries": 3}
    assert fronts["front"]["mode"] == "end"


def test_store_fronts_that_is_not_an_object_is_ignored_with_a_warning(
    write_scenario: Writer, simba_cli: Cli, tmp_path: Path
) -> None:
    """A trusted module's storeFronts that is no object is ignored, said once per call."""
    writes = {"commonData": {"storeFronts": [1, 2]}, "onTick": 1, "onMode": "step"}
    result, run_dir = run_keeper_and_front(write_scenario, simba_cli, tmp_path, writes)
    assert "returned commonData 'storeFronts' that is not an object" in result.stdout
    summary = json.loads((run_dir / ".simba" / "summary.json").read_text())
    assert list(summary["commonData"]["storeFronts"]) == ["front"]


def test_status_with_null_data_changes_nothing(
    write_scenario: Writer, simba_cli: Cli, tmp_path: Path
) -> None:
    """A status whose commonData and moduleData are null succeeds and changes neither."""
    raw = '{"status": "success", "commonData": null, "moduleData": null}'
    scenario = write_scenario(
        {
            "schedule": [
                spec("a", 1, SCRIPTED, updateCommonData=True, moduleData={"raw": raw, "keep": 1})
            ],
            "commonData": {"level": 7},
        }
    )
    result, run_dir = run(simba_cli, scenario, tmp_path / "out")
    assert succeeded(result), result.stderr
    summary = json.loads((run_dir / ".simba" / "summary.json").read_text())
    assert summary["commonData"] == {"level": 7}
    assert summary["modules"]["a"]["moduleData"] == {"raw": raw, "keep": 1}


def test_output_directory_with_dot_dot_is_normalised(
    write_scenario: Writer, simba_cli: Cli, tmp_path: Path
) -> None:
    """outputDirectory 'x/../out' gives configs and summary.json a path without '..'."""
    scenario = write_scenario([spec("a", 1, SCRIPTED)])
    driver = json.loads((scenario / "driver.json").read_text())
    (scenario / "driver.json").write_text(json.dumps({**driver, "outputDirectory": "x/../out"}))
    result = simba_cli("run", scenario, "--run-id", "r", cwd=tmp_path)
    assert succeeded(result), result.stderr
    run_dir = tmp_path / "out" / "r"
    summary = json.loads((run_dir / ".simba" / "summary.json").read_text())
    assert summary["runDirectory"] == str(run_dir)
    config = json.loads((run_dir / "0" / "module_1.json").read_text())
    assert config["outputDirectory"] == str(run_dir)
    assert ".." not in config["statusFile"]


@pytest.mark.skipif(find_spec("parsl") is None, reason="Parsl is not installed")
@pytest.mark.parametrize("kind", ["local", "slurm"])
@pytest.mark.parametrize("examples", EXAMPLE_SOURCES)
def test_reference_parsl_examples_are_accepted(
    simba_cli: Cli, tmp_path: Path, kind: str, examples: Path
) -> None:
    """The reference-format type "parsl" examples validate unchanged, Parsl fields and all."""
    scenario = copy_example(examples, kind, tmp_path)
    result = simba_cli("validate", scenario)
    assert succeeded(result), result.stderr
    assert "2 modules" in result.stdout


def local_example(examples: Path, tmp_path: Path) -> Path:
    """The reference-format example directory with every module made type local."""
    scenario = copy_example(examples, "local", tmp_path)
    schedule = json.loads((scenario / "schedule.json").read_text())
    for entry in schedule["schedule"]:
        entry["type"] = "local"
    (scenario / "schedule.json").write_text(json.dumps(schedule))
    return scenario


@pytest.mark.parametrize("examples", EXAMPLE_SOURCES)
def test_reference_example_runs_with_local_modules(
    simba_cli: Cli, tmp_path: Path, examples: Path
) -> None:
    """The reference-format example directory, with type local and its program, runs unchanged."""
    scenario = local_example(examples, tmp_path)
    result, run_dir = run(simba_cli, scenario, tmp_path / "out")
    assert succeeded(result), result.stderr
    assert len(trace(run_dir)) == 21
    assert (run_dir / "11").is_dir() and not (run_dir / "12").exists()


@pytest.mark.parametrize("examples", EXAMPLE_SOURCES)
def test_config_documents_have_the_reference_keys(
    simba_cli: Cli, tmp_path: Path, examples: Path
) -> None:
    """Start, step and end documents carry the keys of the reference's, less $schema."""
    scenario = local_example(examples, tmp_path)
    result, run_dir = run(simba_cli, scenario, tmp_path / "out")
    assert succeeded(result), result.stderr
    ours = {
        "start": run_dir / "00" / "module_1.json",
        "step": run_dir / "02" / "module_1.json",
        "end": run_dir / "end" / "module_1.json",
    }
    for mode, path in ours.items():
        theirs = json.loads((examples / "modules" / f"module{mode.title()}.json").read_text())
        document = json.loads(path.read_text())
        expected = set(theirs) - {"$schema"} | {"moduleData"}
        assert set(document) == expected, mode
        assert document["mode"] == theirs["mode"] == mode


def test_compatibility_page_names_every_test_and_only_real_ones() -> None:
    """docs/compatibility.rst names every test of this file and of tests/compat, and each
    test it names exists."""
    page = (ROOT / "docs" / "compatibility.rst").read_text()
    named = set(re.findall(r"``(tests/[\w/]+\.py)::(test_\w+)``", page))
    missing = [
        f"{path}::{test}"
        for path, test in sorted(named)
        if f"\ndef {test}(" not in (ROOT / path).read_text()
    ]
    assert not missing, f"docs/compatibility.rst names tests that do not exist: {missing}"
    files = [Path(__file__).resolve(), *sorted((ROOT / "tests" / "compat").glob("test_*.py"))]
    unlisted = {
        f"{path.relative_to(ROOT)}::{test}"
        for path in files
        for test in re.findall(r"^def (test_\w+)\(", path.read_text(), re.M)
    } - {f"{path}::{test}" for path, test in named}
    this = Path(__file__).resolve().relative_to(ROOT)
    assert unlisted == {f"{this}::test_compatibility_page_names_every_test_and_only_real_ones"}
