"""The simba command as a real process: its subcommands, output modes and exit codes."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import pytest
from conftest import MODULES, ROOT, run_cli
from jsonschema import Draft202012Validator

from simba import __version__

OK = str(MODULES / "ok.sh")

Cli = Callable[..., subprocess.CompletedProcess[str]]


def two_modules(**fields: Any) -> list[dict[str, Any]]:
    """'hi' (priority 2) and 'lo' (priority 1, every other tick) running ok.sh."""
    return [
        {"name": "lo", "priority": 1, "command": OK, "tickIncrement": 2, **fields},
        {"name": "hi", "priority": 2, "command": OK},
    ]


def test_version(simba_cli: Cli) -> None:
    """--version prints the package version and exits 0."""
    result = simba_cli("--version")
    assert result.returncode == 0
    assert __version__ in result.stdout
    assert "simba" in result.stdout


@pytest.mark.parametrize("name", ["driver", "schedule", "module", "status"])
def test_schema_prints_valid_json(simba_cli: Cli, name: str) -> None:
    """simba schema NAME prints the schema file as a valid draft 2020-12 JSON Schema."""
    result = simba_cli("schema", name)
    assert result.returncode == 0
    printed = json.loads(result.stdout)
    assert printed == json.loads((ROOT / "schema" / f"{name}.json").read_text())
    Draft202012Validator.check_schema(printed)


def test_validate_good_scenario(write_scenario: Callable[..., Path], simba_cli: Cli) -> None:
    """validate on a good scenario exits 0 and states the modules, ticks and call count."""
    scenario = write_scenario(two_modules())
    result = simba_cli("validate", scenario)
    assert result.returncode == 0, result.stderr
    assert "valid" in result.stdout
    assert "2 modules" in result.stdout
    assert "ticks 0..3" in result.stdout
    assert "9 calls" in result.stdout
    assert not (scenario.parent / "runs").exists()


def test_validate_bad_scenario(write_scenario: Callable[..., Path], simba_cli: Cli) -> None:
    """validate on a broken scenario exits 2 and lists every problem, without a traceback."""
    scenario = write_scenario(
        [
            {"name": "a", "priority": 1, "command": OK, "dependsOn": ["ghost"]},
            {"name": "b", "command": OK},
        ]
    )
    result = simba_cli("validate", scenario)
    assert result.returncode == 2
    assert "ghost" in result.stderr
    assert "priority" in result.stderr
    assert "Traceback" not in result.stderr


def _rows(stdout: str) -> list[list[str]]:
    return [
        line.split()
        for line in stdout.splitlines()
        if line.split() and line.split()[0] in ("start", "step", "end")
    ]


def test_plan_shows_ticks_times_and_order(
    write_scenario: Callable[..., Path], simba_cli: Cli
) -> None:
    """plan prints each batch's mode, tick, time and its calls in order, higher priority first."""
    scenario = write_scenario(two_modules())
    result = simba_cli("plan", scenario)
    assert result.returncode == 0, result.stderr
    assert "final tick 3" in result.stdout
    assert _rows(result.stdout) == [
        ["start", "0", "2024-01-01T00:00:00", "hi", "lo"],
        ["step", "0", "2024-01-01T00:00:00", "hi->1", "lo->2"],
        ["step", "1", "2024-01-02T00:00:00", "hi->2"],
        ["step", "2", "2024-01-03T00:00:00", "hi->3", "lo->3"],
        ["end", "3", "2024-01-04T00:00:00", "hi", "lo"],
    ]


def test_plan_tick_range(write_scenario: Callable[..., Path], simba_cli: Cli) -> None:
    """plan --ticks 1:2 shows only the steps at ticks 1 and 2."""
    scenario = write_scenario(two_modules())
    result = simba_cli("plan", scenario, "--ticks", "1:2")
    assert result.returncode == 0, result.stderr
    assert _rows(result.stdout) == [
        ["step", "1", "2024-01-02T00:00:00", "hi->2"],
        ["step", "2", "2024-01-03T00:00:00", "hi->3", "lo->3"],
    ]


def test_plan_does_not_run(
    write_scenario: Callable[..., Path], simba_cli: Cli, tmp_path: Path
) -> None:
    """plan starts no module and writes no run directory."""
    log = tmp_path / "never.jsonl"
    scenario = write_scenario(
        [
            {
                "name": "r",
                "priority": 1,
                "command": str(MODULES / "record.py"),
                "moduleData": {"log": str(log)},
            }
        ]
    )
    assert simba_cli("plan", scenario).returncode == 0
    assert not log.exists()
    assert not (tmp_path / "runs").exists()


def test_run_json_prints_summary(
    write_scenario: Callable[..., Path], simba_cli: Cli, tmp_path: Path
) -> None:
    """run --json prints the run summary as the only thing on stdout."""
    scenario = write_scenario({"commonData": {"n": 1}, "schedule": two_modules()})
    result = simba_cli("run", scenario, "--json", "-o", tmp_path / "runs", "--run-id", "j")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["outcome"] == "success"
    assert summary["calls"] == 9
    assert summary["commonData"] == {"n": 1}
    assert summary["runDirectory"] == str(tmp_path / "runs" / "j")
    assert set(summary["modules"]) == {"hi", "lo"}
    assert summary == json.loads((tmp_path / "runs" / "j" / ".simba" / "summary.json").read_text())


def test_run_json_on_failure(
    write_scenario: Callable[..., Path], simba_cli: Cli, tmp_path: Path
) -> None:
    """run --json still prints a parseable summary, with outcome failed, when a module fails."""
    scenario = write_scenario([{"name": "x", "priority": 1, "command": str(MODULES / "exit3.sh")}])
    result = simba_cli("run", scenario, "--json", "-o", tmp_path / "runs")
    assert result.returncode == 1
    summary = json.loads(result.stdout)
    assert summary["outcome"] == "failed"
    assert "exited with code 3" in summary["error"]


def test_plain_output_without_terminal(
    write_scenario: Callable[..., Path], simba_cli: Cli, tmp_path: Path
) -> None:
    """Output to a pipe is plain text: progress lines and a table, no ANSI escapes."""
    scenario = write_scenario(
        [
            *two_modules(),
            {"name": "noisy", "priority": 0, "command": str(MODULES / "info_error.sh")},
        ]
    )
    result = simba_cli("run", scenario, "-o", tmp_path / "runs", "--run-id", "p")
    assert result.returncode == 0, result.stderr
    assert "\x1b" not in result.stdout + result.stderr
    assert "run success" in result.stdout
    failed = simba_cli("run", scenario, "-o", tmp_path / "runs", "--run-id", "p")
    assert failed.returncode == 2
    assert "\x1b" not in failed.stdout + failed.stderr
    assert failed.stderr.startswith("error: ")


def test_module_info_and_error_lines_shown(
    write_scenario: Callable[..., Path], simba_cli: Cli, tmp_path: Path
) -> None:
    """INFO: and ERROR: lines a module prints appear in the run's output with its name."""
    scenario = write_scenario(
        [{"name": "noisy", "priority": 1, "command": str(MODULES / "info_error.sh")}]
    )
    result = simba_cli("run", scenario, "-o", tmp_path / "runs")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "[noisy] INFO: hello from tick 0" in out
    assert "[noisy] INFO: hello from tick 2" in out
    assert "[noisy] ERROR: something odd happened" in out
    assert "just chatter" not in out


def test_exit_codes(write_scenario: Callable[..., Path], simba_cli: Cli, tmp_path: Path) -> None:
    """run exits 0 on success, 1 when a module fails and 2 for a bad scenario."""
    good = write_scenario([{"name": "ok", "priority": 1, "command": OK}])
    failing = write_scenario([{"name": "x", "priority": 1, "command": str(MODULES / "exit3.sh")}])
    bad = write_scenario([{"name": "ok", "priority": 1, "command": "./does-not-exist"}])
    out = tmp_path / "runs"
    assert simba_cli("run", good, "-o", out).returncode == 0
    assert simba_cli("run", failing, "-o", out).returncode == 1
    broken = simba_cli("run", bad, "-o", out)
    assert broken.returncode == 2
    assert "does-not-exist" in broken.stderr
    assert "Traceback" not in broken.stderr
    missing = simba_cli("run", tmp_path / "nowhere", "-o", out)
    assert missing.returncode == 2
    assert "Traceback" not in missing.stderr


def test_bad_option_exits_2(write_scenario: Callable[..., Path], simba_cli: Cli) -> None:
    """A malformed option value is a usage error with exit 2."""
    scenario = write_scenario([{"name": "ok", "priority": 1, "command": OK}])
    result = simba_cli("run", scenario, "--timeout", "soon")
    assert result.returncode == 2
    assert "--timeout" in result.stderr
    assert simba_cli("run", scenario, "--run-id", "../escape").returncode == 2


def test_cli_timeout_option(
    write_scenario: Callable[..., Path], simba_cli: Cli, tmp_path: Path
) -> None:
    """--timeout applies to modules that set none."""
    scenario = write_scenario(
        [
            {
                "name": "slow",
                "priority": 1,
                "command": str(MODULES / "scripted.py"),
                "moduleData": {"sleep": 30},
            }
        ]
    )
    result = simba_cli("run", scenario, "--timeout", "PT0.5S", "-o", tmp_path / "runs")
    assert result.returncode == 1
    assert "timeout of 0.5 s" in result.stderr


def test_plan_refuses_an_empty_tick_range(simba_cli: Callable[..., Any]) -> None:
    """`simba plan --ticks 5:2` is a usage error (exit 2), not a silently empty table."""
    result = simba_cli("plan", ROOT / "examples" / "quickstart", "--ticks", "5:2")
    assert result.returncode == 2
    assert "is empty" in result.stderr


@pytest.mark.skipif(find_spec("parsl") is None, reason="Parsl is not installed")
def test_slurm_scenario_without_sbatch_validates_with_a_warning_and_does_not_run(
    tmp_path: Path,
) -> None:
    """Without sbatch on PATH, validate says the SLURM modules cannot run here; run refuses."""
    scenario = ROOT / "examples" / "slurm"
    no_slurm = {"PATH": str(tmp_path)}  # no sbatch (nor anything else) on PATH
    checked = run_cli("validate", scenario, "--json", cwd=tmp_path, env=no_slurm)
    assert checked.returncode == 0, checked.stderr
    warnings = json.loads(checked.stdout)["warnings"]
    assert len(warnings) == 2 and all("sbatch is not on this machine's PATH" in w for w in warnings)
    assert "warning: " in checked.stderr and "module 'room'" in checked.stderr
    refused = run_cli("run", scenario, "-o", tmp_path / "out", cwd=tmp_path, env=no_slurm)
    assert refused.returncode == 2, refused.stderr
    assert "sbatch is not on this machine's PATH" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert not (tmp_path / "out").exists()
