"""The one /proc scan: processes found by a mark in their environment or a file they hold."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from simba.leftovers import kill_holding, kill_marked, other_processes

pytestmark = pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc (Linux)")


def test_a_marked_process_is_found_and_killed(tmp_path: Path) -> None:
    """kill_marked finds a process by NAME=value in its environment, and only that one."""
    marker = f"SIMBA_TEST_MARK={tmp_path}"
    env = {**os.environ, "SIMBA_TEST_MARK": str(tmp_path)}
    process = subprocess.Popen(["sleep", "60"], env=env)
    try:
        assert process.pid in set(other_processes(marked=marker))
        assert list(other_processes(marked=f"{marker}-other")) == []
        assert kill_marked("SIMBA_TEST_MARK", str(tmp_path)) == 1
        assert process.wait(timeout=10) == -9
    finally:
        process.kill()
        process.wait()


def test_a_process_holding_a_file_is_found_and_killed(tmp_path: Path) -> None:
    """kill_holding finds a process by a file it has open under the directory; never us."""
    held = tmp_path / "held"
    held.mkdir()
    program = (
        "import sys, time; handle = open(sys.argv[1], 'a'); "
        "print('ready', flush=True); time.sleep(60)"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", program, str(held / "log")], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None and process.stdout.readline() == "ready\n"
        with (held / "ours").open("w"):
            assert list(other_processes(holding=held)) == [process.pid]
            assert kill_holding(held) == 1
        assert process.wait(timeout=10) == -9
    finally:
        process.kill()
        process.wait()
        if process.stdout is not None:
            process.stdout.close()
