"""``simba show`` and ``simba replay`` of one call, in the tick and the journal layout."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import MODULES

Cli = Callable[..., subprocess.CompletedProcess[str]]
SDK = str(MODULES / "res_sdk.py")


def scenario(write_scenario: Callable[..., Path], tmp_path: Path, layout: str) -> Path:
    """A (inline protocol) updates commonData total; B (file protocol) counts; ticks 0..3."""
    common = {"type": "resident", "command": SDK, "env": {"RES_LOG": str(tmp_path / "log")}}
    schedule = {
        "commonData": {"calls": 0, "total": 0},
        "schedule": [
            {"name": "A", "priority": 2, "protocol": "inline", "updateCommonData": True, **common},
            {"name": "B", "priority": 1, **common},
        ],
    }
    driver: dict[str, Any] = {
        "initialTime": "2024-01-01T00:00:00",
        "endTime": "2024-01-04T00:00:00",
        "scheduleIntervals": [{"tickDuration": "P1D"}],
        "runLayout": layout,
    }
    return write_scenario(schedule, driver, name=layout)


def sections(output: str) -> dict[str, str]:
    """The ``--- name`` sections of simba show's output."""
    found: dict[str, str] = {}
    name = "head"
    for line in output.splitlines():
        if line.startswith("--- "):
            name = line[4:]
            found[name] = ""
        else:
            found[name] = found.get(name, "") + line + "\n"
    return found


@pytest.mark.parametrize("layout", ["tick", "journal"])
def test_show_and_replay_one_call(
    write_scenario: Callable[..., Path], simba_cli: Cli, tmp_path: Path, layout: str
) -> None:
    """show prints the call's config and status; replay runs it again outside the run."""
    result = simba_cli(
        "run", scenario(write_scenario, tmp_path, layout), "-o", "runs", "--run-id", "r"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    run_dir = tmp_path / "runs" / "r"
    before = sorted(p.relative_to(run_dir) for p in run_dir.rglob("*") if ".simba" not in p.parts)
    for module, status in (
        ("B", {"status": "success", "moduleData": {"count": 2}}),
        ("A", {"status": "success", "commonData": {"total": 2}, "moduleData": {"count": 2}}),
    ):
        shown = simba_cli("show", run_dir, "--module", module, "--tick", "1")
        assert shown.returncode == 0, shown.stdout + shown.stderr
        parts = sections(shown.stdout)
        assert f"module {module}, step at tick 1, attempt 1" in parts["head"]
        config = json.loads(parts["config"])
        assert (config["mode"], config["currentTick"], config["targetTick"]) == ("step", 1, 2)
        assert json.loads(parts["status"]) == status
        replayed = simba_cli("replay", run_dir, "--module", module, "--tick", "1")
        assert replayed.returncode == 0, replayed.stdout + replayed.stderr
        assert json.loads(sections(replayed.stdout)["status"]) == status
    start = simba_cli("show", run_dir, "--module", "B", "--tick", "0", "--mode", "start")
    assert "module B, start at tick 0" in start.stdout, start.stdout + start.stderr
    after = sorted(p.relative_to(run_dir) for p in run_dir.rglob("*") if ".simba" not in p.parts)
    assert after == before  # replay works in a scratch directory


def test_show_of_a_call_that_is_not_there_is_a_usage_error(
    write_scenario: Callable[..., Path], simba_cli: Cli, tmp_path: Path
) -> None:
    """An unknown module or tick: exit 2 and a sentence saying what to check."""
    result = simba_cli(
        "run", scenario(write_scenario, tmp_path, "journal"), "-o", "runs", "--run-id", "r"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    shown = simba_cli("show", tmp_path / "runs" / "r", "--module", "nope", "--tick", "1")
    assert shown.returncode == 2
    assert "has no call of module 'nope' at tick 1" in shown.stderr
    assert "Traceback" not in shown.stderr
