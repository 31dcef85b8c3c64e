"""simba compare of sweeps cell by cell; JUnit of simba run and simba sweep."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from conftest import run_cli
from helpers import compare, noisy_scenario, validate_junit

from simba.engine.protocol import derive_seed


def sweep(directory: Path, run_id: str, scales: list[float], **extra: Any) -> Path:
    """A sweep of the noisy scenario (seed 5) over ``first``'s scale, run; its directory."""
    noisy_scenario(directory / "scenario", seed=5)
    document = {
        "scenario": "scenario",
        "runId": run_id,
        "outputDirectory": str(directory.parent / "sweeps"),
        "cells": [
            {"id": f"c{i}", "moduleData": {"first": {"scale": scale}}}
            for i, scale in enumerate(scales)
        ],
        **extra,
    }
    (directory / "sweep.json").write_text(json.dumps(document))
    result = run_cli("sweep", directory / "sweep.json", "-j", "2", cwd=directory)
    assert result.returncode == 0, result.stdout + result.stderr
    return directory.parent / "sweeps" / run_id


def test_a_sweep_with_one_changed_cell_names_exactly_that_cell(tmp_path: Path) -> None:
    """Cells c0..c2; the second sweep changes c1 only: exit 1, c1 named, c0 and c2 equal;
    a baseline of the sweep compares the same way."""
    one = sweep(tmp_path / "one", "one", [1.0, 2.0, 3.0])
    two = sweep(tmp_path / "two", "two", [1.0, 2.5, 3.0])
    status, out, err = compare(one, two, cwd=tmp_path)
    assert status == 1, out + err
    assert out.splitlines()[0].endswith("different in 1 of 3 cells: c1")
    assert "cell c0: equal" in out and "cell c2: equal" in out and "cell c1: different" in out
    assert compare(one, one, cwd=tmp_path)[0] == 0
    baseline = tmp_path / "sweep-baseline.json"
    saved = run_cli("baseline", "save", one, baseline, cwd=tmp_path)
    assert saved.returncode == 0 and "saved 3 cells" in saved.stdout
    status, out, _ = compare(baseline, two, "--json", cwd=tmp_path)
    assert status == 1
    verdicts = {run["cell"]: run["equal"] for run in json.loads(out)["runs"]}
    assert verdicts == {"c0": True, "c1": False, "c2": True}


def test_cells_get_their_own_seeds(tmp_path: Path) -> None:
    """A cell without a seed of its own gets derive_seed(base seed, cell id), so cells
    with the same parameters still draw different numbers."""
    one = sweep(tmp_path / "one", "one", [1.0, 1.0])
    from simba.record.reader import open_record

    seeds = {}
    for cell in ("c0", "c1"):
        with open_record(one / cell) as record:
            row = next(r for r in record.state() if r.module == "first")
            assert row.module_data is not None
            seeds[cell] = row.module_data["seed"]
    assert seeds == {c: derive_seed(derive_seed(5, c), "first") for c in ("c0", "c1")}
    status, out, _ = compare(one / "c0", one / "c1", cwd=tmp_path)
    assert status == 1 and "first:value" in out


def test_run_and_sweep_junit_files_validate(tmp_path: Path) -> None:
    """simba run --junit: one test case, passed, timed; a failed run's case carries the
    error and its log tail; simba sweep --junit: a test case per cell, a failed cell's
    with its error and the tail of its log.  All valid."""
    scenario = noisy_scenario(tmp_path / "s", seed=1)
    junit = tmp_path / "run.xml"
    result = run_cli("run", scenario, "--run-id", "ok", "--junit", junit, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    validate_junit(junit)
    (case,) = ET.parse(junit).iter("testcase")
    assert case.get("name") == "ok" and float(case.get("time") or 0) > 0
    assert case.find("failure") is None

    schedule = json.loads((scenario / "schedule.json").read_text())
    schedule["schedule"][1]["command"] = ["sh", "-c", "echo 'ERROR: broken on purpose'; exit 3"]
    (scenario / "schedule.json").write_text(json.dumps(schedule))
    junit = tmp_path / "failed.xml"
    result = run_cli("run", scenario, "--run-id", "bad", "--junit", junit, cwd=tmp_path)
    assert result.returncode == 1
    validate_junit(junit)
    (case,) = ET.parse(junit).iter("testcase")
    failure = case.find("failure")
    assert failure is not None and "second" in (failure.get("message") or "")
    assert "broken on purpose" in (failure.text or "")

    junit = tmp_path / "sweep.xml"
    directory = tmp_path / "sw"
    noisy_scenario(directory / "scenario", seed=5)
    (directory / "sweep.json").write_text(
        json.dumps(
            {
                "scenario": "scenario",
                "runId": "sw",
                "outputDirectory": str(tmp_path / "sweeps"),
                "grid": {"moduleData": {"first": {"scale": [1.0, "not a number"]}}},
            }
        )
    )
    result = run_cli("sweep", directory / "sweep.json", "--junit", junit, cwd=directory)
    assert result.returncode == 1, result.stderr  # cell-2's module cannot multiply a text
    validate_junit(junit)
    cases = {case.get("name"): case for case in ET.parse(junit).iter("testcase")}
    assert list(cases) == ["cell-1", "cell-2"]
    assert cases["cell-1"].find("failure") is None
    failure = cases["cell-2"].find("failure")
    assert failure is not None and "first" in (failure.get("message") or "")
    assert "TypeError" in (failure.text or "")
