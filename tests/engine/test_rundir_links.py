"""``--overwrite`` never deletes through a symbolic link (the run directory's, with a real run)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

from conftest import MODULES

Cli = Callable[..., subprocess.CompletedProcess[str]]


def test_overwrite_refuses_a_symlinked_run_directory_and_keeps_its_target(
    write_scenario: Callable[..., Path], simba_cli: Cli, tmp_path: Path
) -> None:
    """runs/r -> elsewhere/r with --overwrite: exit 2, a clear message, link and target kept."""
    scenario = write_scenario([{"name": "ok", "priority": 1, "command": str(MODULES / "ok.sh")}])
    first = simba_cli("run", scenario, "-o", tmp_path / "elsewhere", "--run-id", "r")
    assert first.returncode == 0, first.stderr
    target = tmp_path / "elsewhere" / "r"
    (tmp_path / "runs").mkdir()
    link = tmp_path / "runs" / "r"
    link.symlink_to(target, target_is_directory=True)

    again = simba_cli("run", scenario, "-o", tmp_path / "runs", "--run-id", "r", "--overwrite")
    assert again.returncode == 2, again.stderr
    assert "Traceback" not in again.stderr
    assert f"{link} is a symbolic link (to {target})" in again.stderr
    assert "remove the link" in again.stderr
    assert link.is_symlink() and (target / ".simba" / "summary.json").is_file()
