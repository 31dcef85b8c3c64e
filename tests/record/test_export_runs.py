"""``simba export`` of real runs: the quickstart, and a run killed and resumed many times."""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path
from typing import Any

from conftest import EXAMPLES, MODULES, run_cli, sigkill_and_resume

MODEL = str(MODULES / "rel_model.py")
DAYS = 40


def export(run_dir: Path, *args: str) -> str:
    result = run_cli("export", run_dir, *args, cwd=run_dir.parent)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_quickstarts_history_long_and_wide(tmp_path: Path) -> None:
    """Every module's data in the long form; in the wide one a row per tick 0..120 and a
    column per numeric key, the nested epidemic state flattened (epidemic.I)."""
    shutil.copytree(EXAMPLES / "quickstart", tmp_path / "quickstart")
    result = run_cli("run", "quickstart", "--run-id", "q", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    run_dir = tmp_path / "runs" / "q"
    rows = list(csv.DictReader(io.StringIO(export(run_dir))))
    assert {row["scope"] for row in rows} == {"commonData", "moduleData"}
    assert {row["module"] for row in rows} >= {"sir", "policy"}
    infected = [r for r in rows if r["scope"] == "commonData" and r["key"] == "epidemic.I"]
    assert len(infected) >= 120  # at least each step 0..119 of sir
    wide = list(csv.DictReader(io.StringIO(export(run_dir, "--wide"))))
    assert [int(row["tick"]) for row in wide] == list(range(121))
    assert {"epidemic.I", "contactReduction", "sir:beta"} <= set(wide[0])
    peak = max(float(row["epidemic.I"]) for row in wide)
    assert peak > 3000  # the policy's threshold was crossed (the quickstart says so)


def chaos_schedule() -> dict[str, Any]:
    """a, then b and r side by side (-j 2), each evolving its data from all it is given."""
    modules = [
        {
            "name": name,
            "priority": 3 - index,
            "command": MODEL,
            "type": kind,
            "updateCommonData": True,
            "dependsOn": depends,
            "moduleData": {"key": name, "sleep": [0.0, 0.02]},
        }
        for index, (name, kind, depends) in enumerate(
            [("a", "local", []), ("b", "local", ["a"]), ("r", "local", ["a"])]
        )
    ]
    return {"commonData": {"a": 0, "b": 0, "r": None}, "schedule": modules}


def test_a_run_killed_and_resumed_exports_what_an_uninterrupted_one_does(
    tmp_path: Path, write_scenario: Any
) -> None:
    """SIGKILL at random moments, resumed each time: long and wide CSV equal byte for byte."""
    driver = {
        "initialTime": "2024-01-01T00:00:00",
        "endTime": f"P{DAYS}D",
        "scheduleIntervals": [{"tickDuration": "P1D"}],
    }
    scenario = write_scenario(chaos_schedule(), driver)
    out = tmp_path / "out"
    args = ["run", scenario, "-o", out, "--run-id", "chaos", "-j", "2"]
    reference = run_cli(*args, "--run-id", "reference", cwd=tmp_path)
    assert reference.returncode == 0, reference.stderr
    kills = sigkill_and_resume(
        args, out / "chaos", kills=6, cwd=tmp_path, pause=(0.3, 1.2), seed=20261126
    )
    assert kills == 6, "the run finished before it could be killed often enough"
    for form in ([], ["--wide"]):
        expected = export(out / "reference", *form)
        assert export(out / "chaos", *form) == expected
        assert expected.count("\n") > DAYS
