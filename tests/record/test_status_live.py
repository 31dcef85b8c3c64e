"""``simba status`` on real runs: one in progress, one killed with SIGKILL, one watched."""

from __future__ import annotations

import json
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from conftest import MODULES, launch, run_cli

MODEL = str(MODULES / "rel_model.py")
#: Ticks 0..30, one day each.
DRIVER = {
    "initialTime": "2024-01-01T00:00:00",
    "endTime": "2024-01-31T00:00:00",
    "scheduleIntervals": [{"tickDuration": "P1D"}],
}


def slow_scenario(write_scenario: Callable[..., Path], sleep: float) -> Path:
    """One module, 'slow', that sleeps ``sleep`` seconds per call and evolves its data."""
    module = {
        "name": "slow",
        "priority": 1,
        "command": MODEL,
        "updateCommonData": True,
        "moduleData": {"key": "slow", "sleep": [sleep, sleep]},
    }
    return write_scenario({"schedule": [module], "commonData": {"slow": 0}}, DRIVER)


def status_json(run_dir: Path) -> dict[str, Any]:
    result = run_cli("status", run_dir, "--json", cwd=run_dir.parent)
    assert result.returncode == 0, result.stderr
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def wait_until(check: Callable[[], Any], process: subprocess.Popen[str], what: str) -> Any:
    deadline = time.monotonic() + 60
    while not (found := check()):
        assert process.poll() is None, f"simba exited ({process.returncode}) before {what}"
        assert time.monotonic() < deadline, f"no {what} within 60 s"
        time.sleep(0.1)
    return found


def test_a_run_in_progress_then_killed_then_resumed(
    tmp_path: Path, write_scenario: Callable[..., Path]
) -> None:
    """While the run goes on, status shows its tick advancing, the module running now and its
    live driver; after a SIGKILL, that the driver is gone and the command that resumes it,
    which then finishes the run."""
    scenario = slow_scenario(write_scenario, 0.3)
    run_dir = tmp_path / "out" / "live"
    driver = launch("run", scenario, "-o", tmp_path / "out", "--run-id", "live", cwd=tmp_path)
    try:
        database = run_dir / ".simba" / "run.db"
        wait_until(database.exists, driver, "run.db")
        seen: dict[int, dict[str, Any]] = {}

        def two_ticks() -> bool:
            document = status_json(run_dir)
            if document["state"] == "running" and document["tick"] is not None:
                seen.setdefault(document["tick"], document)
            return len(seen) >= 3

        wait_until(two_ticks, driver, "three ticks seen running")
        looks = [seen[tick] for tick in sorted(seen)]
        assert [look["callsDone"] for look in looks] == sorted(look["callsDone"] for look in looks)
        for look in looks:
            assert look["driver"]["alive"] is True and look["driver"]["pid"] == driver.pid
            assert look["plannedCalls"] == 32 and look["finalTick"] == 30
            assert look["resumeCommand"] is None
        running = wait_until(lambda: status_json(run_dir)["running"], driver, "a running call")
        assert running[0]["module"] == "slow" and running[0]["mode"] in ("start", "step")
        assert 0 <= running[0]["seconds"] < 30
    finally:
        driver.send_signal(signal.SIGKILL)
        driver.communicate()
    gone = status_json(run_dir)
    assert gone["state"] == "stopped" and gone["driver"]["alive"] is False
    assert gone["running"] == [] and gone["etaSeconds"] is None
    assert gone["resumeCommand"] == f"simba run --resume {run_dir}"
    text = run_cli("status", run_dir, cwd=tmp_path).stdout
    assert "gone before the end" in text and f"resume:  simba run --resume {run_dir}" in text
    resumed = subprocess.run(
        [sys.executable, "-m", *shlex.split(gone["resumeCommand"])],  # simba run --resume ...
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert resumed.returncode == 0, resumed.stderr
    done = status_json(run_dir)
    assert done["state"] == "success" and done["callsDone"] == 32 and done["tick"] == 30
    assert done["resumeCommand"] is None and done["driver"]["number"] == 2


def test_watch_prints_a_line_per_change_until_the_run_ends(
    tmp_path: Path, write_scenario: Callable[..., Path]
) -> None:
    """In a pipe, --watch prints one line each time the tick, calls or running call change,
    and returns when the run has ended."""
    scenario = slow_scenario(write_scenario, 0.05)
    run_dir = tmp_path / "out" / "watched"
    driver = launch("run", scenario, "-o", tmp_path / "out", "--run-id", "watched", cwd=tmp_path)
    try:
        wait_until((run_dir / ".simba").is_dir, driver, "the run directory")
        watch = run_cli("status", run_dir, "--watch", "--interval", "0.05", cwd=tmp_path)
    finally:
        driver.communicate(timeout=120)
    assert watch.returncode == 0, watch.stderr
    lines = watch.stdout.splitlines()
    assert lines[-1].startswith("success tick=30 calls=32/32"), lines[-1]
    assert len(lines) == len(set(lines)) > 3
    ticks = [int(word[5:]) for line in lines for word in line.split() if word.startswith("tick=")]
    assert ticks == sorted(ticks)
