"""No process of a run outlives the run (issue 12, item 5).

A module that starts a daemon in a session of its own returns while the daemon goes on
writing into the run directory.  Whichever way the driver ends (success, a failed call,
SIGTERM), the daemon is stopped before ``simba run`` exits and named in a warning and
in ``summary.json``.  Real processes: ``python -m simba`` and ``tests/modules/hostile.py``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import MODULES, launch, process_gone, run_processes, wait_for

from simba.leftovers import LEFTOVER_GRACE, stop_leftovers

HOSTILE = str(MODULES / "hostile.py")

#: outcome -> (hostile.py arguments, the exit status of simba run)
CASES = {
    "success": (["daemon"], 0),
    "failure": (["daemon-then-fail"], 1),
    "interrupted": (["daemon-then-hang"], 128 + signal.SIGTERM),
    "stubborn": (["daemon", "stubborn"], 0),
}


@pytest.mark.parametrize("case", list(CASES))
def test_daemon_left_by_a_module_is_stopped_when_the_run_ends(
    case: str, write_scenario: Callable[..., Path], tmp_path: Path
) -> None:
    """A daemon a module started in its own session is stopped and named when the driver ends,
    whether the run succeeded, failed or was interrupted, even if it ignores SIGTERM."""
    arguments, expected = CASES[case]
    scenario = write_scenario([{"name": "d", "priority": 1, "command": [HOSTILE, *arguments]}])
    run_dir = (tmp_path / "runs" / "r").resolve()
    args = ("run", scenario, "-o", tmp_path / "runs", "--run-id", "r", "--json")
    process = launch(*args, cwd=tmp_path)  # --json: progress and warnings on stderr
    wait_for(run_dir / "daemon.pid", process)
    if case == "interrupted":
        wait_for(run_dir / "daemon.log", process)
        process.send_signal(signal.SIGTERM)
    started = time.monotonic()
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == expected, stderr
    assert "Traceback" not in stderr
    pid = int((run_dir / "daemon.pid").read_text())
    assert process_gone(pid)
    assert run_processes(run_dir, settle=0) == []
    size = (run_dir / "daemon.log").stat().st_size
    time.sleep(0.3)
    assert (run_dir / "daemon.log").stat().st_size == size  # nobody writes there any more
    assert "still running when it ended and were stopped" in stderr
    assert f"{pid} (" in stderr
    summary = json.loads((run_dir / ".simba" / "summary.json").read_text())
    assert [entry.split(" ")[0] for entry in summary["leftovers"]] == [str(pid)]
    if case == "stubborn":  # SIGTERM ignored: SIGKILL after the grace period
        assert time.monotonic() - started < 30
    assert summary["outcome"] == {0: "success", 1: "failed"}.get(expected, "interrupted")


def test_run_without_leftovers_names_none(
    write_scenario: Callable[..., Path],
    simba_cli: Callable[..., subprocess.CompletedProcess[str]],
    tmp_path: Path,
) -> None:
    """A run whose modules leave nothing running has no warning and no 'leftovers' key."""
    scenario = write_scenario([{"name": "ok", "priority": 1, "command": str(MODULES / "ok.sh")}])
    result = simba_cli("run", scenario, "-o", tmp_path / "runs", "--run-id", "r")
    assert result.returncode == 0, result.stderr
    assert "still running" not in result.stderr
    summary = json.loads((tmp_path / "runs" / "r" / ".simba" / "summary.json").read_text())
    assert "leftovers" not in summary


def test_stop_leftovers_stops_only_marked_processes(tmp_path: Path) -> None:
    """stop_leftovers stops the processes carrying the run's marker, SIGKILLs one that ignores
    SIGTERM after the grace period, and leaves another run's processes alone."""
    code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"
    ours = tmp_path / "ours"
    marked = [
        subprocess.Popen(
            [sys.executable, "-c", code if stubborn else "import time; time.sleep(60)"],
            env={**os.environ, "SIMBA_RUN_DIR": str(ours)},
            start_new_session=True,
        )
        for stubborn in (False, True)
    ]
    other = subprocess.Popen(
        ["sleep", "60"], env={**os.environ, "SIMBA_RUN_DIR": str(tmp_path / "other")}
    )
    try:
        time.sleep(0.3)  # let the stubborn one install its handler
        started = time.monotonic()
        found = stop_leftovers(ours, grace_period=0.5)
        assert sorted(leftover.pid for leftover in found) == sorted(p.pid for p in marked)
        assert all(" -c import" in leftover.command for leftover in found)
        assert 0.5 <= time.monotonic() - started < LEFTOVER_GRACE + 1
        assert [p.wait(5) for p in marked] == [-signal.SIGTERM, -signal.SIGKILL]
        assert other.poll() is None
    finally:
        for process in (*marked, other):
            process.kill()
            process.wait()
