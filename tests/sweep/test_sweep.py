"""``simba sweep``: many cells of one base scenario, locally in parallel and through Parsl.

The sweeps run as real ``simba`` processes (each cell a process of its own), on
examples/sweep/ and on small POSIX sh modules written per test.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import pytest
from conftest import EXAMPLES, run_cli

from simba.errors import ScenarioError
from simba.sweep.cells import load_sweep

Writer = Callable[..., Path]

SWEEP_EXAMPLE = EXAMPLES / "sweep" / "sweep.json"

needs_parsl = pytest.mark.skipif(
    find_spec("parsl") is None, reason="Parsl is not installed (pip install 'simba-cosim[parsl]')"
)


def summary(directory: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((directory / "sweep-summary.json").read_text())
    return document


def marked(name: str, value: str) -> list[str]:
    """Live (not zombie) processes whose environment has ``name=value``."""
    marker = f"{name}={value}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            state = (entry / "stat").read_text().rpartition(")")[2].split()[0]
            environment = (entry / "environ").read_bytes().split(b"\0")
        except (OSError, IndexError):
            continue
        if state != "Z" and marker in environment:
            found.append(entry.name)
    return found


def counting_module(directory: Path, calls: Path) -> str:
    """An sh module that logs each call's run directory to ``calls`` and fails while the
    file named in its moduleData ``failWhile`` exists."""
    path = directory / "counted.sh"
    path.write_text(
        "#!/bin/sh\n"
        'status=$(sed -n \'s/^ *"statusFile": "\\(.*\\)",$/\\1/p\' "$1")\n'
        'out=$(sed -n \'s/^ *"outputDirectory": "\\(.*\\)",$/\\1/p\' "$1")\n'
        'flag=$(sed -n \'s/^ *"failWhile": "\\([^"]*\\)".*/\\1/p\' "$1")\n'
        f'echo "$out" >> {calls}\n'
        'if [ -n "$flag" ] && [ -e "$flag" ]; then echo "broken: $flag" >&2; exit 4; fi\n'
        'printf \'{"status": "success"}\\n\' > "$status"\n'
    )
    path.chmod(0o755)
    return str(path)


def write_sweep(directory: Path, document: dict[str, Any]) -> Path:
    path = directory / "sweep.json"
    path.write_text(json.dumps(document, indent=2))
    return path


@pytest.fixture
def small_sweep(write_scenario: Writer, tmp_path: Path) -> tuple[Path, Path, Path]:
    """A three-cell sweep whose cell 'b' fails while the file ``broken`` exists."""
    calls, broken = tmp_path / "calls.log", tmp_path / "broken"
    module = counting_module(tmp_path, calls)
    scenario = write_scenario(
        {
            "schedule": [{"name": "m", "priority": 1, "command": module, "moduleData": {}}],
            "commonData": {"level": 1},
        },
        name="base",
    )
    sweep = write_sweep(
        tmp_path,
        {
            "scenario": str(scenario),
            "runId": "small",
            "outputDirectory": str(tmp_path / "out"),
            "cells": [
                {"id": "a", "commonData": {"level": 2}},
                {"id": "b", "moduleData": {"m": {"failWhile": str(broken)}}},
                {"id": "c", "driver": {"endTime": "2024-01-06T00:00:00"}},
            ],
        },
    )
    broken.touch()
    return sweep, calls, broken


# -- the example: eight cells -----------------------------------------------------------------


def test_grid_sweep_runs_eight_cells_locally_four_at_once(tmp_path: Path) -> None:
    """examples/sweep runs its 2 x 4 grid with -j 4; each cell is a complete run with its values."""
    result = run_cli("sweep", SWEEP_EXAMPLE, "-j", "4", "-o", tmp_path / "out", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    directory = tmp_path / "out" / "sir-sweep"
    document = summary(directory)
    assert document["outcome"] == "success" and document["mode"] == "local"
    cells = document["cells"]
    assert len(cells) == 8 and {c["outcome"] for c in cells} == {"success"}
    assert "8 of 8 cells succeeded" in result.stdout
    peaks = {
        (c["parameters"]["commonData.beta"], c["parameters"]["moduleData.sir.vaccinated"]): c[
            "commonData"
        ]["peakInfected"]
        for c in cells
    }
    assert len(peaks) == 8
    for beta in (0.15, 0.2, 0.3, 0.4):  # vaccination lowers the peak
        assert peaks[beta, 0.4] < peaks[beta, 0.0]
    assert peaks[0.4, 0.0] > peaks[0.15, 0.0]  # more contacts, higher peak
    for cell in cells:
        run = json.loads((directory / cell["id"] / ".simba" / "summary.json").read_text())
        assert run["outcome"] == "success"
        assert run["commonData"]["beta"] == cell["parameters"]["commonData.beta"]
        vaccinated = run["modules"]["sir"]["moduleData"]["vaccinated"]
        assert vaccinated == cell["parameters"]["moduleData.sir.vaccinated"]


@needs_parsl
def test_grid_sweep_runs_each_cell_as_a_parsl_app(tmp_path: Path) -> None:
    """With --parsl every cell runs as a Parsl bash_app; Parsl's files stay in the sweep."""
    result = run_cli(
        "sweep", SWEEP_EXAMPLE, "--parsl", "-o", tmp_path / "out", cwd=tmp_path, timeout=600
    )
    assert result.returncode == 0, result.stderr
    directory = tmp_path / "out" / "sir-sweep"
    document = summary(directory)
    assert document["mode"] == "parsl"
    assert [c["outcome"] for c in document["cells"]] == ["success"] * 8
    assert (directory / ".sweep" / "parsl" / "000" / "parsl.log").is_file()
    log = (directory / ".sweep" / "cell-1.log").read_text()
    assert log.startswith("--- simba sweep: cell cell-1 started") and "run cell-1" in log
    assert not (tmp_path / "runinfo").exists()
    deadline = time.monotonic() + 10
    while marked("SIMBA_PARSL_RUN", str(directory / ".sweep" / "parsl")):
        assert time.monotonic() < deadline, "Parsl processes of the sweep survived it"
        time.sleep(0.1)


# -- failures and resuming --------------------------------------------------------------------


def test_a_failed_cell_does_not_stop_the_others(
    small_sweep: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    """A failing cell is reported (exit 1, its error in the summary) while the others finish."""
    sweep, _, _ = small_sweep
    result = run_cli("sweep", sweep, "-j", "1", cwd=tmp_path)
    assert result.returncode == 1
    assert "1 of 3 cells did not succeed (b)" in result.stderr
    cells = {c["id"]: c for c in summary(tmp_path / "out" / "small")["cells"]}
    assert {key: c["outcome"] for key, c in cells.items()} == {
        "a": "success",
        "b": "failed",
        "c": "success",
    }
    assert "module 'm'" in cells["b"]["error"] and "exited with code 4" in cells["b"]["error"]
    assert cells["a"]["commonData"] == {"level": 2}
    assert cells["c"]["parameters"] == {"driver.endTime": "2024-01-06T00:00:00"}


def test_resume_reruns_only_unfinished_cells(
    small_sweep: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    """--resume skips the cells that succeeded and runs the failed one again, to success."""
    sweep, calls, broken = small_sweep
    first = run_cli("sweep", sweep, cwd=tmp_path)
    assert first.returncode == 1
    before = calls.read_text().splitlines()
    broken.unlink()
    second = run_cli("sweep", sweep, "--resume", cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    after = calls.read_text().splitlines()[len(before) :]
    out = tmp_path / "out" / "small"
    assert after and set(after) == {str(out / "b")}
    cells = {c["id"]: c for c in summary(out)["cells"]}
    assert {key: (c["outcome"], c["ran"]) for key, c in cells.items()} == {
        "a": ("success", False),
        "b": ("success", True),
        "c": ("success", False),
    }
    assert "cell a: success (earlier)" in second.stdout


def test_resume_refuses_a_changed_sweep(
    small_sweep: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    """A sweep whose file changed since it ran is not resumed (exit 2), and is not overwritten."""
    sweep, _, _ = small_sweep
    assert run_cli("sweep", sweep, cwd=tmp_path).returncode == 1
    document = json.loads(sweep.read_text())
    document["cells"][0]["commonData"]["level"] = 3
    sweep.write_text(json.dumps(document))
    resumed = run_cli("sweep", sweep, "--resume", cwd=tmp_path)
    assert resumed.returncode == 2 and "changed since it started" in resumed.stderr
    again = run_cli("sweep", sweep, cwd=tmp_path)
    assert again.returncode == 2 and "already exists" in again.stderr


# -- loading ----------------------------------------------------------------------------------


def test_sweep_problems_are_reported_with_their_path(
    write_scenario: Writer, tmp_path: Path
) -> None:
    """Unknown keys and modules, fixed driver fields and schema errors are reported (exit 2)."""
    scenario = write_scenario(
        {
            "schedule": [{"name": "m", "priority": 1, "command": "true"}],
            "commonData": {"level": 1},
        },
        name="base",
    )
    sweep = write_sweep(
        tmp_path,
        {
            "scenario": str(scenario),
            "grid": {
                "commonData": {"levl": [1, 2]},
                "moduleData": {"model": {"x": [1]}},
                "driver": {"runId": ["a"], "endTime": ["soon"]},
            },
        },
    )
    result = run_cli("sweep", sweep, cwd=tmp_path)
    assert result.returncode == 2
    errors = result.stderr
    assert "grid.commonData.levl: 'levl' is not a commonData key" in errors
    assert "grid.moduleData.model: the base scenario has no module 'model'" in errors
    assert "grid.driver.runId: a cell cannot change runId" in errors
    assert "Traceback" not in errors
    schema_error = write_sweep(tmp_path, {"scenario": str(scenario), "cels": []})
    result = run_cli("sweep", schema_error, cwd=tmp_path)
    assert result.returncode == 2 and "unknown key 'cels' (did you mean 'cells'?)" in result.stderr


def test_cells_derive_from_the_base_scenario_without_changing_it(tmp_path: Path) -> None:
    """Each cell's scenario carries its values; the loaded base scenario keeps its own."""
    sweep = load_sweep(SWEEP_EXAMPLE, cwd=tmp_path)
    base = sweep.base
    assert base.common_data is not None and base.common_data["beta"] == 0.3
    assert base.module("sir").module_data == {
        "population": 10000,
        "initialInfected": 10,
        "vaccinated": 0.0,
    }
    assert [cell.id for cell in sweep.cells] == [f"cell-{n}" for n in range(1, 9)]
    fingerprints = {scenario.fingerprint for scenario in sweep.scenarios}
    assert len(fingerprints) == 8 and base.fingerprint not in fingerprints
    last_cell, last = sweep.cells[-1], sweep.scenarios[-1]
    assert last_cell.parameters == {"commonData.beta": 0.4, "moduleData.sir.vaccinated": 0.4}
    assert last.common_data is not None and last.common_data["beta"] == 0.4
    assert last.module("sir").module_data == {
        "population": 10000,
        "initialInfected": 10,
        "vaccinated": 0.4,
    }
    assert last.timeline == base.timeline


def test_a_driver_change_gives_the_cell_its_own_clock(
    small_sweep: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    """A cell that changes endTime gets the timeline of that end; the others keep the base's."""
    sweep_file, _, _ = small_sweep
    sweep = load_sweep(sweep_file, cwd=tmp_path)
    pairs = zip(sweep.cells, sweep.scenarios, strict=True)
    finals = {cell.id: scenario.timeline.final_tick for cell, scenario in pairs}
    assert finals == {"a": 3, "b": 3, "c": 5}
    document = json.loads(sweep_file.read_text())
    document["cells"][2]["driver"]["endTime"] = "2023-01-01T00:00:00"
    sweep_file.write_text(json.dumps(document))
    with pytest.raises(ScenarioError) as info:
        load_sweep(sweep_file, cwd=tmp_path)
    assert [p.path for p in info.value.problems] == ["cells[2].driver.endTime"]
