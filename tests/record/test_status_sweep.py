"""``simba status`` on a sweep's directory: each cell done, failed, running or pending."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from conftest import MODULES, launch, run_cli, run_processes

SCRIPTED = str(MODULES / "scripted.py")


def sweep_file(tmp_path: Path, write_scenario: Callable[..., Path], cells: list[Any]) -> Path:
    module = {"name": "m", "priority": 1, "command": SCRIPTED, "moduleData": {}}
    scenario = write_scenario({"schedule": [module], "commonData": {"level": 1}}, name="base")
    path = tmp_path / "sweep.json"
    document = {
        "scenario": str(scenario),
        "runId": "sw",
        "outputDirectory": str(tmp_path / "out"),
        "cells": cells,
    }
    path.write_text(json.dumps(document))
    return path


def status_json(directory: Path) -> dict[str, Any]:
    result = run_cli("status", directory, "--json", cwd=directory.parent)
    assert result.returncode == 0, result.stderr
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def test_a_finished_sweep_counts_its_cells_and_says_how_to_resume(
    tmp_path: Path, write_scenario: Callable[..., Path]
) -> None:
    """Two cells done, one failed; a cell whose directory is gone counts as pending."""
    cells = [
        {"id": "a"},
        {"id": "b", "moduleData": {"m": {"exit": 3, "onTick": 1}}},
        {"id": "c", "commonData": {"level": 2}},
    ]
    path = sweep_file(tmp_path, write_scenario, cells)
    assert run_cli("sweep", path, cwd=tmp_path).returncode == 1
    directory = tmp_path / "out" / "sw"
    document = status_json(directory)
    assert document["kind"] == "sweep" and document["state"] == "failed"
    assert document["counts"] == {"done": 2, "failed": 1, "running": 0, "pending": 0}
    states = {cell["id"]: (cell["state"], cell["run"]["state"]) for cell in document["cells"]}
    assert states == {"a": ("done", "success"), "b": ("failed", "failed"), "c": ("done", "success")}
    assert document["driverAlive"] is False
    resume = f"simba sweep {path} --resume --run-id sw -o {directory.parent}"
    assert document["resumeCommand"] == resume
    text = run_cli("status", directory, cwd=tmp_path).stdout
    assert "cells:   2 done, 1 failed, 0 running, 0 pending (3 in all)" in text
    assert f"resume:  {resume}" in text
    (directory / "c" / ".simba" / "summary.json").rename(tmp_path / "moved")
    for name in (directory / "c").iterdir():
        name.rename(tmp_path / f"c-{name.name}")
    (directory / "c").rmdir()
    assert status_json(directory)["counts"]["pending"] == 1


def test_a_running_sweep_shows_its_running_cell(
    tmp_path: Path, write_scenario: Callable[..., Path]
) -> None:
    """While a cell's module sleeps, the sweep and that cell are running."""
    cells = [{"id": "slow", "moduleData": {"m": {"sleep": 20, "onTick": 1}}}, {"id": "quick"}]
    path = sweep_file(tmp_path, write_scenario, cells)
    sweep = launch("sweep", path, "-j", "1", cwd=tmp_path)
    directory = tmp_path / "out" / "sw"
    try:
        deadline = time.monotonic() + 30
        while True:
            document = status_json(directory) if (directory / ".sweep").is_dir() else None
            if document and document["counts"]["running"] == 1:
                break
            assert time.monotonic() < deadline and sweep.poll() is None
            time.sleep(0.2)
        assert document["state"] == "running" and document["driverAlive"] is True
        assert document["resumeCommand"] is None
        cell = next(c for c in document["cells"] if c["state"] == "running")
        assert cell["id"] == "slow"
        assert document["counts"] == {"done": 0, "failed": 0, "running": 1, "pending": 1}
    finally:
        sweep.terminate()  # it stops its cells (a SIGKILL would leave them running)
        sweep.communicate(timeout=60)
    assert run_processes(directory / "slow") == []
