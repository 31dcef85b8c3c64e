"""A disk that fills up under SIMBA's own writes (checkpoint, trace, summary), with real processes.

Two ways to fill it: a small tmpfs that a module fills (needs root to mount; skipped
otherwise) and a 1 MB file-size limit (``RLIMIT_FSIZE``) that a large state passes.  In
both, the run and a ``--resume`` while the disk is still full end with the one clean
"cannot go on writing" message, a ``summary.json`` that says so, and no traceback; a
``--resume`` after the space is back finishes the run.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import MODULES
from test_reliability import LIMITED
from test_services import client, service

from simba.engine import Engine, RunOptions
from simba.engine.journal import read_trace
from simba.errors import SimbaError
from simba.scenario import load_scenario

Cli = Callable[..., subprocess.CompletedProcess[str]]


def summary_of(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / ".simba" / "summary.json").read_text())


def assert_clean_failure(
    result: subprocess.CompletedProcess[str], run_dir: Path, cause: str
) -> None:
    """Exit 1, one 'cannot go on writing' message naming the cause and --resume, no traceback."""
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert "error: cannot go on writing in" in result.stderr, result.stderr
    assert cause in result.stderr and f"simba run --resume {run_dir}" in result.stderr


def fill(path: Path) -> None:
    """Write zeros into ``path`` until its file system is full."""
    subprocess.run(
        ["dd", "if=/dev/zero", f"of={path}", "bs=4096"], capture_output=True, check=False
    )


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A fresh 2 MB tmpfs, unmounted afterwards."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root (the file-size-limit test still runs)")
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def test_full_disk_fails_cleanly_and_resume_finishes(
    write_scenario: Callable[..., Path], simba_cli: Cli, small_disk: Path
) -> None:
    """A disk filled mid-run and still full at --resume: a clean message; then resume works."""
    entry = {
        "name": "hog",
        "priority": 1,
        "command": str(MODULES / "disk_hog.sh"),
        "env": {"HOG_TICK": "2", "HOG_BALLAST": str(small_disk / "ballast")},
    }
    scenario = write_scenario(
        [entry],
        {
            "initialTime": "2024-01-01T00:00:00",
            "endTime": "P4D",
            "scheduleIntervals": [{"tickDuration": "P1D"}],
        },
    )
    run_dir = small_disk / "runs" / "r"
    first = simba_cli("run", scenario, "-o", small_disk / "runs", "--run-id", "r")
    assert_clean_failure(first, run_dir, "No space left on device")
    summary = summary_of(run_dir)
    assert summary["outcome"] == "failed"
    assert "No space left on device" in summary["error"]
    assert not list((run_dir / ".simba").glob(".*.tmp")), "a half-written file holds space"

    fill(small_disk / "ballast2")  # the space the failed run gave back is taken again
    still_full = simba_cli("run", "--resume", run_dir)
    assert_clean_failure(still_full, run_dir, "No space left on device")
    assert summary_of(run_dir)["outcome"] == "failed"

    for ballast in small_disk.glob("ballast*"):
        ballast.unlink()
    resumed = simba_cli("run", "--resume", run_dir)
    assert resumed.returncode == 0, resumed.stderr
    assert summary_of(run_dir)["outcome"] == "success"
    calls = [(r["mode"], r["tick"]) for r in read_trace(run_dir / ".simba" / "trace.jsonl")]
    assert sorted(set(calls)) == sorted(
        [("start", 0), *((("step", t)) for t in range(4)), ("end", 4)]
    )
    assert not (run_dir / ".simba" / ".summary.reserve").exists()


def limited(*args: str | os.PathLike[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """``python -m simba ARGS`` under a 1 MB file-size limit."""
    return subprocess.run(
        [sys.executable, "-c", LIMITED, *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_file_size_limit_on_own_writes_fails_cleanly_also_on_resume(
    write_scenario: Callable[..., Path], simba_cli: Cli, tmp_path: Path
) -> None:
    """A state too big for the checkpoint fails run and resume cleanly, with a slim summary."""
    entries = [
        {
            "name": name,
            "priority": priority,
            "command": str(MODULES / "scripted.py"),
            "moduleData": {"onTick": 1, "bigStatus": 600_000},
        }
        for name, priority in (("a", 2), ("b", 1))
    ]
    scenario = write_scenario(entries)
    run_dir = tmp_path / "runs" / "r"
    first = limited("run", scenario, "-o", tmp_path / "runs", "--run-id", "r", cwd=tmp_path)
    assert_clean_failure(first, run_dir, "File too large")
    summary = summary_of(run_dir)
    assert summary["outcome"] == "failed" and "File too large" in summary["error"]
    assert summary["commonData"] is None and summary["modules"]["a"]["moduleData"] is None

    again = limited("run", "--resume", run_dir, cwd=tmp_path)
    assert_clean_failure(again, run_dir, "File too large")

    resumed = simba_cli("run", "--resume", run_dir)
    assert resumed.returncode == 0, resumed.stderr
    summary = summary_of(run_dir)
    assert summary["outcome"] == "success"
    assert len(summary["modules"]["b"]["moduleData"]["pad"]) == 600_000


def test_service_log_that_cannot_be_written_stops_the_run_cleanly(
    write_scenario: Callable[..., Path], simba_cli: Cli, tmp_path: Path
) -> None:
    """A service's module.log past the file-size limit: the clean message, then resume works."""
    entries = [
        service(env={"SVC_SPAM": "20000"}),  # 2 MB of lines, past the 1 MB limit
        client(sleep=0.5),
    ]
    scenario = write_scenario(entries)
    run_dir = tmp_path / "runs" / "r"
    first = limited("run", scenario, "-o", tmp_path / "runs", "--run-id", "r", cwd=tmp_path)
    assert_clean_failure(first, run_dir, "File too large")
    assert "(the log of service 'svc')" in first.stderr
    assert "Exception in thread" not in first.stderr
    assert summary_of(run_dir)["outcome"] == "failed"

    resumed = simba_cli("run", "--resume", run_dir)
    assert resumed.returncode == 0, resumed.stderr
    assert summary_of(run_dir)["outcome"] == "success"


def test_full_disk_error_keeps_its_cause(
    write_scenario: Callable[..., Path], small_disk: Path
) -> None:
    """In-process, the 'cannot go on writing' SimbaError has the OSError (ENOSPC) as its cause."""
    entry = {
        "name": "hog",
        "priority": 1,
        "command": str(MODULES / "disk_hog.sh"),
        "env": {"HOG_TICK": "1", "HOG_BALLAST": str(small_disk / "ballast")},
    }
    engine = Engine(
        load_scenario(write_scenario([entry])),
        RunOptions(output_directory=small_disk / "runs", run_id="r"),
    )
    with pytest.raises(SimbaError, match="cannot go on writing") as failed:
        engine.run()
    assert isinstance(failed.value.__cause__, OSError)
    assert failed.value.__cause__.errno == errno.ENOSPC
    assert engine.summary is not None and engine.summary.outcome == "failed"
