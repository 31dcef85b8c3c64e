"""The commands that start no process (validate, plan, schema), run in-process with CliRunner."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from conftest import MODULES, ROOT

from simba.cli import cli

OK = str(MODULES / "ok.sh")


def invoke(*args: str | Path) -> Result:
    """``simba ARGS`` through the click group, in this process."""
    return CliRunner().invoke(cli, [str(arg) for arg in args], catch_exceptions=False)


def two_modules() -> list[dict[str, Any]]:
    """'hi' (priority 2) and 'lo' (priority 1, every other tick) running ok.sh."""
    return [
        {"name": "lo", "priority": 1, "command": OK, "tickIncrement": 2},
        {"name": "hi", "priority": 2, "command": OK},
    ]


def test_validate_valid_scenario(write_scenario: Callable[..., Path]) -> None:
    """validate exits 0 with one line naming the modules, the ticks, the times and the calls."""
    scenario = write_scenario(two_modules())
    result = invoke("validate", scenario)
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        f"{scenario}: valid; 2 modules, ticks 0..3 "
        "(2024-01-01T00:00:00 .. 2024-01-04T00:00:00), 9 calls\n"
    )
    assert result.stderr == ""


def test_validate_json(write_scenario: Callable[..., Path]) -> None:
    """validate --json prints the findings as one JSON document."""
    result = invoke("validate", "--json", write_scenario(two_modules()))
    assert result.exit_code == 0, result.output
    facts = json.loads(result.stdout)
    assert facts["valid"] is True
    assert facts["modules"] == ["lo", "hi"]
    assert (facts["initialTick"], facts["finalTick"], facts["calls"]) == (0, 3, 9)


def test_validate_invalid_scenario(write_scenario: Callable[..., Path]) -> None:
    """validate of a broken scenario exits 2 with every problem on stderr, nothing on stdout."""
    scenario = write_scenario(
        [
            {"name": "a", "priority": 1, "command": OK, "dependsOn": ["ghost"]},
            {"name": "b", "command": OK},
        ]
    )
    result = invoke("validate", scenario)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("error: ")
    assert "ghost" in result.stderr
    assert "priority" in result.stderr


def test_validate_json_of_an_invalid_scenario_lists_its_problems(
    write_scenario: Callable[..., Path],
) -> None:
    """validate --json of a broken scenario prints every problem as JSON on stdout, exit 2."""
    scenario = write_scenario(
        [
            {"name": "a", "priority": 1, "command": OK, "dependsOn": ["ghost"]},
            {"name": "b", "command": OK},
        ]
    )
    result = invoke("validate", "--json", scenario)
    assert result.exit_code == 2
    findings = json.loads(result.stdout)
    assert findings["valid"] is False
    files = {problem["file"] for problem in findings["problems"]}
    assert files == {str(scenario / "schedule.json")}
    paths = [problem["path"] for problem in findings["problems"]]
    assert any("dependsOn" in path for path in paths), paths
    assert any("ghost" in problem["message"] for problem in findings["problems"])
    assert result.stderr.startswith("error: ")


def test_validate_counts_in_the_right_number(write_scenario: Callable[..., Path]) -> None:
    """One module is '1 module', not '1 modules'."""
    scenario = write_scenario([{"name": "a", "priority": 1, "command": OK}])
    result = invoke("validate", scenario)
    assert result.exit_code == 0, result.output
    assert "valid; 1 module, ticks" in result.stdout


def test_validate_missing_scenario(tmp_path: Path) -> None:
    """validate of a path that does not exist exits 2 naming it."""
    result = invoke("validate", tmp_path / "nowhere")
    assert result.exit_code == 2
    assert str(tmp_path / "nowhere") in result.stderr


def test_plan_ticks(write_scenario: Callable[..., Path]) -> None:
    """plan --ticks 1:2 prints the title and only the steps at ticks 1 and 2, in order."""
    scenario = write_scenario(two_modules())
    result = invoke("plan", scenario, "--ticks", "1:2")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == f"plan of {scenario}: final tick 3, 9 calls"
    assert [line.split() for line in lines[2:]] == [
        ["step", "1", "2024-01-02T00:00:00", "hi->2"],
        ["step", "2", "2024-01-03T00:00:00", "hi->3", "lo->3"],
    ]


def test_plan_json(write_scenario: Callable[..., Path]) -> None:
    """plan --json prints one JSON object per batch: mode, tick, time, calls, target ticks."""
    result = invoke("plan", write_scenario(two_modules()), "--json", "--ticks", "2")
    assert result.exit_code == 0, result.output
    assert [json.loads(line) for line in result.stdout.splitlines()] == [
        {
            "mode": "step",
            "tick": 2,
            "time": "2024-01-03T00:00:00",
            "calls": ["hi", "lo"],
            "targetTicks": [3, 3],
        }
    ]


def test_plan_refuses_an_empty_range() -> None:
    """plan --ticks 5:2 is a usage error (exit 2) that says how to write the range."""
    result = invoke("plan", ROOT / "examples" / "quickstart", "--ticks", "5:2")
    assert result.exit_code == 2
    assert "the range 5:2 is empty" in result.stderr


@pytest.mark.parametrize("name", ["driver", "sweep"])
def test_schema(name: str) -> None:
    """schema NAME prints the schema file shipped in schema/."""
    result = invoke("schema", name)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == json.loads((ROOT / "schema" / f"{name}.json").read_text())


def test_schema_refuses_an_unknown_name() -> None:
    """schema of an unknown name is a usage error listing the names."""
    result = invoke("schema", "nothing")
    assert result.exit_code == 2
    assert "'driver', 'schedule', 'module', 'status', 'descriptor', 'sweep'" in result.stderr


def test_run_needs_a_scenario_or_resume() -> None:
    """run without SCENARIO or --resume is a usage error that says what to give."""
    result = invoke("run")
    assert result.exit_code == 2
    assert "give a SCENARIO to run, or --resume RUN_DIR" in result.stderr


def test_run_resume_takes_the_directory_as_it_is(tmp_path: Path) -> None:
    """run --resume with --run-id is a usage error, before the directory is even read."""
    result = invoke("run", "--resume", tmp_path, "--run-id", "other")
    assert result.exit_code == 2
    assert "--resume takes the run directory as it is" in result.stderr


def test_station_options_come_from_the_module_root(
    write_scenario: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under --api the module's root is the output base (a relative -o goes under it)
    and CACHE_ROOT the caches' base; outside a host, nothing changes."""
    from simba.cli.hosted import HostedRequest, hosted_options

    monkeypatch.setenv("CACHE_ROOT", str(tmp_path / "cache"))
    scenario = write_scenario(two_modules())
    request = HostedRequest(address=("127.0.0.1", 0), scenario=scenario, run_id="r")
    _, station = hosted_options(request, tmp_path / "root")
    assert station.output_directory == tmp_path / "root"
    assert station.cache_directory == tmp_path / "cache"
    assert station.run_id == "r"
    relative = HostedRequest(
        address=("127.0.0.1", 0), scenario=scenario, output_directory=Path("o")
    )
    _, own = hosted_options(relative, tmp_path / "root")
    assert own.output_directory == tmp_path / "root" / "o"
    _, outside = hosted_options(request, None)
    assert outside.output_directory is None


@pytest.mark.parametrize("group", [[], ["module"]])
def test_help_lists_commands_without_cutting_their_lines(group: list[str]) -> None:
    """`simba --help` (and `simba module --help`) shows each command's line whole, no '...'."""
    result = invoke(*group, "--help")
    assert result.exit_code == 0, result.output
    commands = result.stdout.split("Commands:\n", 1)[1].splitlines()
    assert len(commands) >= 6
    assert [line for line in commands if line.rstrip().endswith("...")] == []
