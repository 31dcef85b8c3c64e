"""Helpers of the comparison tests: real runs of the quickstart and of a noisy module."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from conftest import EXAMPLES, MODULES, run_cli

#: The JUnit schema of Jenkins' xUnit plugin, vendored.
JUNIT_XSD = Path(__file__).resolve().parent / "junit-10.xsd"
NOISY = str(MODULES / "noisy.py")


def run_quickstart(base: Path, run_id: str, **module_data: dict[str, Any]) -> Path:
    """Run (a copy of) the quickstart as ``runs/<run_id>`` under ``base``; its directory.

    ``module_data``: per module, moduleData keys to change in the copy's schedule.
    """
    scenario = base / f"quickstart-{run_id}"
    shutil.copytree(EXAMPLES / "quickstart", scenario)
    schedule_file = scenario / "schedule.json"
    schedule = json.loads(schedule_file.read_text())
    for entry in schedule["schedule"]:
        entry.setdefault("moduleData", {}).update(module_data.get(entry["name"], {}))
    schedule_file.write_text(json.dumps(schedule, indent=2))
    result = run_cli("run", scenario, "--run-id", run_id, "-o", base / "runs", cwd=base)
    assert result.returncode == 0, result.stderr
    return base / "runs" / run_id


def noisy_scenario(
    directory: Path, *, seed: int | None, ticks: int = 5, scale: float = 1.0
) -> Path:
    """A scenario of two noisy modules (see tests/modules/noisy.py) with this driver seed."""
    directory.mkdir(parents=True, exist_ok=True)
    driver: dict[str, Any] = {
        "initialTime": "2024-01-01T00:00:00",
        "endTime": f"P{ticks}D",
        "scheduleIntervals": [{"tickDuration": "P1D"}],
    }
    if seed is not None:
        driver["seed"] = seed
    modules = [
        {
            "name": name,
            "command": [NOISY],
            "priority": priority,
            "updateCommonData": name == "first",
            "moduleData": {"scale": scale},
        }
        for name, priority in (("first", 2), ("second", 1))
    ]
    (directory / "driver.json").write_text(json.dumps(driver))
    (directory / "schedule.json").write_text(
        json.dumps({"schedule": modules, "commonData": {"total": 0.0}})
    )
    return directory


def compare(*args: str | Path, cwd: Path) -> tuple[int, str, str]:
    result = run_cli("compare", *args, cwd=cwd)
    return result.returncode, result.stdout, result.stderr


def validate_junit(path: Path) -> None:
    """Raise unless ``path`` is valid against the vendored JUnit schema."""
    import xmlschema

    xmlschema.XMLSchema(JUNIT_XSD).validate(path)
