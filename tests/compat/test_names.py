"""Names with spaces, ':', '=' and non-ASCII letters, as the reference driver accepts them.

Module names, run ids, cell ids and the paths of the scenario and output directories may
hold them (simba/names.py is the rule); a name still never escapes the run directory.
Every test runs ``simba`` as a real process on real modules.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import MODULES, SMALL_DRIVER

from simba.names import MAX_BYTES, NAME_PATTERN, is_name

Cli = Callable[..., subprocess.CompletedProcess[str]]
Writer = Callable[..., Path]

#: Names the reference accepts and SIMBA 0.1.0 refused.
MODULE = "Zürich: β=0.3"
OTHER = "日本 model"
RUN_ID = "run 1: λ=2"
CELL_ID = "cell=ü"


def scenario_with_names(root: Path, **driver: str) -> Path:
    """A scenario in a directory whose path has a space, ':', '=' and 'é'."""
    directory = root / "scén ario: a=b"
    directory.mkdir()
    entries = [
        {
            "name": MODULE,
            "priority": 2,
            "command": str(MODULES / "sdk_counter.py"),
            "moduleData": {"log": str(directory / "sdk log: é.jsonl")},
            "env": {"LOG_DIR": "{logDir}"},
        },
        {"name": OTHER, "priority": 1, "command": str(MODULES / "ok.sh")},
    ]
    (directory / "driver.json").write_text(json.dumps({**SMALL_DRIVER, **driver}))
    (directory / "schedule.json").write_text(json.dumps({"schedule": entries}))
    return directory


def test_names_with_spaces_colons_equals_and_letters_run(tmp_path: Path, simba_cli: Cli) -> None:
    """Module names, runId, cellId and both directories with such characters: a whole run."""
    output = tmp_path / "out pút: x=y"
    scenario = scenario_with_names(
        tmp_path, runId=RUN_ID, cellId=CELL_ID, outputDirectory=str(output)
    )
    assert simba_cli("validate", scenario).returncode == 0
    result = simba_cli("run", scenario, "--json")
    assert result.returncode == 0, result.stderr
    run_dir = output / RUN_ID / CELL_ID
    summary = json.loads(result.stdout)
    assert summary["outcome"] == "success"
    assert summary["runDirectory"] == str(run_dir)
    assert set(summary["modules"]) == {MODULE, OTHER}
    assert summary["modules"][MODULE]["calls"] == 5
    config = json.loads((run_dir / "2" / "module_1.json").read_text(encoding="utf-8"))
    assert config["outputDirectory"] == str(run_dir)
    assert config["statusFile"] == str(run_dir / "2" / "status_1.json")
    assert (run_dir / "modules" / MODULE / "log").is_dir()
    assert sorted(p.name for p in output.iterdir()) == [RUN_ID]
    assert sorted(p.name for p in (output / RUN_ID).iterdir()) == [CELL_ID]


def test_run_id_option_with_such_names_resumes(tmp_path: Path, simba_cli: Cli) -> None:
    """--run-id and --cell-id with such names; the failed run resumes to success."""
    directory = tmp_path / "ß scenario"
    directory.mkdir()
    entry = {"name": "flaky: é=1", "priority": 1, "command": str(MODULES / "rel_flaky.sh")}
    (directory / "driver.json").write_text(json.dumps(SMALL_DRIVER))
    (directory / "schedule.json").write_text(json.dumps({"schedule": [entry]}))
    state = {"REL_STATE": str(tmp_path / "attempts")}
    first = simba_cli("run", directory, "--run-id", RUN_ID, "--cell-id", CELL_ID, env=state)
    assert first.returncode == 1
    assert "module 'flaky: é=1'" in first.stderr
    run_dir = tmp_path / "runs" / RUN_ID / CELL_ID
    results = [simba_cli("run", "--resume", run_dir, env=state) for _ in range(2)]
    assert [r.returncode for r in results] == [1, 0], results[-1].stderr
    summary = json.loads((run_dir / ".simba" / "summary.json").read_text(encoding="utf-8"))
    assert summary["outcome"] == "success"


@pytest.mark.parametrize(
    "name",
    ["a/b", "..", ".hidden", "-x", " lead", "trail ", "tab\there", "new\nline", "bidi\u202eabc"],
)
def test_unsafe_module_names_are_refused(write_scenario: Writer, simba_cli: Cli, name: str) -> None:
    """A module name that could leave its directory, hide or mislead is refused (exit 2)."""
    scenario = write_scenario([{"name": name, "priority": 1, "command": str(MODULES / "ok.sh")}])
    result = simba_cli("validate", scenario)
    assert result.returncode == 2, result.stdout
    assert "schedule[0].name" in result.stderr
    assert "one path component" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_name_too_long_in_bytes_is_refused(write_scenario: Writer, simba_cli: Cli) -> None:
    """101 'é' are 101 characters but 202 bytes: more than a file name may hold with suffixes."""
    name = "é" * (MAX_BYTES // 2 + 1)
    scenario = write_scenario([{"name": name, "priority": 1, "command": str(MODULES / "ok.sh")}])
    result = simba_cli("validate", scenario)
    assert result.returncode == 2
    assert "schedule[0].name" in result.stderr
    shorter = [{"name": name[:-1], "priority": 1, "command": str(MODULES / "ok.sh")}]
    assert simba_cli("validate", write_scenario(shorter)).returncode == 0


@pytest.mark.parametrize("value", ["../escape", "a/b", ".", "-r"])
@pytest.mark.parametrize("option", ["--run-id", "--cell-id"])
def test_unsafe_run_and_cell_ids_are_refused(
    write_scenario: Writer, simba_cli: Cli, tmp_path: Path, option: str, value: str
) -> None:
    """--run-id/--cell-id that would leave the output directory: exit 2, nothing written."""
    scenario = write_scenario([{"name": "a", "priority": 1, "command": str(MODULES / "ok.sh")}])
    result = simba_cli("run", scenario, "-o", tmp_path / "out", f"{option}={value}")
    assert result.returncode == 2
    assert "one path component" in result.stderr
    assert not (tmp_path / "out").exists()
    assert not (tmp_path / "escape").exists()


def test_run_id_in_driver_json_that_escapes_is_refused(
    write_scenario: Writer, simba_cli: Cli, tmp_path: Path
) -> None:
    """runId "../x" in driver.json: exit 2 naming driver.json's runId."""
    scenario = write_scenario(
        [{"name": "a", "priority": 1, "command": str(MODULES / "ok.sh")}],
        {**SMALL_DRIVER, "runId": "../x"},
    )
    result = simba_cli("run", scenario, "-o", tmp_path / "out")
    assert result.returncode == 2
    assert "driver.json: runId" in result.stderr
    assert not (tmp_path / "x").exists()


def test_python_api_refuses_a_run_id_that_escapes(tmp_path: Path, write_scenario: Writer) -> None:
    """simba.run(run_id="../escape") raises an OptionsError and creates nothing (it used to)."""
    scenario = write_scenario([{"name": "a", "priority": 1, "command": str(MODULES / "ok.sh")}])
    code = (
        "import sys, simba\n"
        "try:\n"
        f"    simba.run({str(scenario)!r}, run_id='../escape', output_directory='out')\n"
        "except simba.SimbaError as exc:\n"
        "    print(exc); sys.exit(3)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        env=os.environ,
    )
    assert result.returncode == 3, result.stdout + result.stderr
    assert "run_id" in result.stdout
    assert not (tmp_path / "escape").exists() and not (tmp_path / "out").exists()


def test_the_schemas_carry_the_rule_of_simba_names() -> None:
    """schedule.json, driver.json and sweep.json spell simba.names.NAME_PATTERN exactly."""
    schemas = Path(__file__).resolve().parents[2] / "schema"
    patterns = {
        "schedule": json.loads((schemas / "schedule.json").read_text())["$defs"]["name"],
        "driver": json.loads((schemas / "driver.json").read_text())["$defs"]["identifier"],
        "sweep": json.loads((schemas / "sweep.json").read_text())["$defs"]["name"],
    }
    assert {name: p["pattern"] for name, p in patterns.items()} == dict.fromkeys(
        patterns, NAME_PATTERN
    )
    assert is_name(MODULE) and is_name(RUN_ID) and not is_name("a\n")
