"""Run options given through the Python API are checked as the command line checks them."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest

from simba.engine import RunOptions
from simba.errors import OptionsError


@pytest.mark.parametrize("timeout", [math.nan, math.inf, -1.0, 0.0, 1e300])
def test_a_timeout_no_wait_can_honour_is_refused(timeout: float) -> None:
    """RunOptions refuses NaN, infinite, non-positive and unwaitable timeouts with OptionsError."""
    with pytest.raises(OptionsError, match="timeout: ") as caught:
        RunOptions(timeout=timeout)
    assert caught.value.exit_status == 2


@pytest.mark.parametrize("jobs", [0, -3, True])
def test_a_job_count_below_one_is_refused(jobs: int) -> None:
    """RunOptions refuses a job count below one (and a bool) with OptionsError."""
    with pytest.raises(OptionsError, match="jobs: "):
        RunOptions(jobs=jobs)


def test_simba_run_with_a_nan_timeout_writes_nothing(tmp_path: Path) -> None:
    """simba.run(timeout=nan) raises OptionsError before any run directory is made."""
    scenario = tmp_path / "scenario.json"
    scenario.write_text(
        '{"driver": {"initialTime": "2024-01-01T00:00:00", "endTime": "P2D",'
        ' "scheduleIntervals": [{"tickDuration": "P1D"}]},'
        ' "schedule": [{"name": "a", "command": "true", "priority": 1}]}'
    )
    code = (
        "import math, sys, simba\n"
        "try:\n"
        f"    simba.run({str(scenario)!r}, timeout=math.nan, output_directory={str(tmp_path)!r})\n"
        "except simba.SimbaError as error:\n"
        "    print(type(error).__name__, error)\n"
        "    sys.exit(error.exit_status)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 2, result.stderr
    assert result.stdout.startswith("OptionsError timeout: nan is not a number of seconds")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scenario.json"]
