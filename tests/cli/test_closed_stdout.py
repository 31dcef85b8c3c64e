"""A stdout or stderr that breaks during ``simba run`` (``| head -1``): the run goes on.

Each test starts ``python -m simba run`` as a real process, reads what it needs from the
pipe and closes it while the run still has lines to write (a module sleeps at tick 1).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from conftest import MODULES

NOTE = "cannot write to {} any more"


def slow_scenario(write_scenario: Callable[..., Path], command: str = "scripted.py") -> Path:
    """One module whose call at tick 1 takes a second (so the reader is gone by then)."""
    entry = {
        "name": "slow",
        "priority": 1,
        "command": str(MODULES / command),
        "moduleData": {"onTick": 1, "sleep": 1.0},
    }
    return write_scenario([entry])


def start(tmp_path: Path, *args: str | os.PathLike[str], **streams: Any) -> subprocess.Popen[str]:
    """``python -m simba run ARGS`` with stdout and stderr pipes unless given."""
    return subprocess.Popen(
        [sys.executable, "-m", "simba", "run", *map(str, args)],
        cwd=tmp_path,
        text=True,
        **{"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, **streams},
    )


def summary_of(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / ".simba" / "summary.json").read_text())


def read_first_line_and_close(process: subprocess.Popen[str]) -> tuple[str, str]:
    """Like ``| head -1``: the first stdout line, then stdout closed; and all of stderr."""
    assert process.stdout is not None and process.stderr is not None
    first = process.stdout.readline()
    process.stdout.close()
    with process.stderr:
        err = process.stderr.read()
    process.wait(timeout=60)
    return first, err


def test_closed_stdout_does_not_stop_a_run(
    write_scenario: Callable[..., Path], tmp_path: Path
) -> None:
    """Plain progress to a pipe whose reader left: the run finishes, stderr says so once."""
    scenario = slow_scenario(write_scenario)
    process = start(tmp_path, scenario, "-o", tmp_path / "runs", "--run-id", "r")
    first, err = read_first_line_and_close(process)
    assert first.startswith("run r:")
    assert process.returncode == 0, err
    assert "Traceback" not in err and "free space" not in err
    assert err.count(NOTE.format("stdout")) == 1, err
    summary = summary_of(tmp_path / "runs" / "r")
    assert summary["outcome"] == "success" and summary["calls"] == summary["plannedCalls"]


def test_closed_stdout_with_api_does_not_stop_a_run(
    write_scenario: Callable[..., Path], tmp_path: Path
) -> None:
    """``simba run --api … | head -1``: the run finishes with its summary; stderr says why."""
    scenario = slow_scenario(write_scenario)
    process = start(
        tmp_path, "--api", "127.0.0.1:0", scenario, "-o", tmp_path / "runs", "--run-id", "a"
    )
    first, err = read_first_line_and_close(process)
    assert first.startswith("API: http://127.0.0.1:")
    assert process.returncode == 0, err
    assert "Traceback" not in err
    assert err.count(NOTE.format("stdout")) == 1, err
    assert summary_of(tmp_path / "runs" / "a")["outcome"] == "success"


def test_failed_run_with_closed_stdout_reports_on_stderr(
    write_scenario: Callable[..., Path], tmp_path: Path
) -> None:
    """A run that fails after stdout broke still exits 1 with its message on stderr."""
    entry = {"name": "bad", "priority": 1, "command": str(MODULES / "scripted.py")}
    entry["moduleData"] = {"onTick": 1, "sleep": 1.0, "exit": 3}
    scenario = write_scenario([entry])
    process = start(tmp_path, scenario, "-o", tmp_path / "runs", "--run-id", "f")
    _, err = read_first_line_and_close(process)
    assert process.returncode == 1, err
    assert "Traceback" not in err
    assert err.count(NOTE.format("stdout")) == 1, err
    assert "error: module 'bad'" in err and "exited with code 3" in err
    assert summary_of(tmp_path / "runs" / "f")["outcome"] == "failed"


def test_closed_stderr_keeps_json_on_stdout(
    write_scenario: Callable[..., Path], tmp_path: Path
) -> None:
    """``--json`` with a broken stderr (its progress): stdout is still exactly the summary."""
    scenario = slow_scenario(write_scenario)
    read_end, write_end = os.pipe()
    os.close(read_end)  # every write to stderr now fails with EPIPE
    try:
        process = start(
            tmp_path, "--json", scenario, "-o", tmp_path / "runs", "--run-id", "j", stderr=write_end
        )
    finally:
        os.close(write_end)
    out, _ = process.communicate(timeout=60)
    assert process.returncode == 0
    assert json.loads(out)["outcome"] == "success"
    assert summary_of(tmp_path / "runs" / "j")["outcome"] == "success"
