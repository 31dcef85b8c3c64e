"""``simba plan`` streams its rows: memory stays flat however many ticks the scenario has.

Real ``python -m simba plan`` processes on scenarios of one module that steps every
second, for hundreds of thousands to millions of ticks.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import run_simba_measured

Writer = Callable[..., Path]


def seconds_scenario(write_scenario: Writer, ticks: int) -> Path:
    """A scenario of ``ticks`` one-second ticks and one module due at every one."""
    days, seconds = divmod(ticks, 86400)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    return write_scenario(
        [{"name": "m", "priority": 1, "command": "true"}],
        driver={
            "initialTime": "2024-01-01T00:00:00",
            "endTime": f"P{days}DT{hours}H{minutes}M{seconds}S",
            "scheduleIntervals": [{"tickDuration": "PT1S"}],
        },
        name=f"seconds{ticks}",
    )


def peak_rss_mb(pid: int) -> float:
    """The peak resident memory of a running process (VmHWM: reset by exec, unlike ru_maxrss)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmHWM in /proc/{pid}/status")


@pytest.mark.parametrize("output", ["table", "json"])
def test_plan_memory_does_not_grow_with_the_ticks(
    write_scenario: Writer, tmp_path: Path, output: str
) -> None:
    """The peak memory of a plan of 200,000 ticks is that of a plan of one row, within 8 MB."""
    scenario = seconds_scenario(write_scenario, 200_000)
    flags = ["--json"] if output == "json" else []
    code, one_row = run_simba_measured("plan", scenario, "--ticks", "0:0", *flags, cwd=tmp_path)
    assert code == 0
    code, every_row = run_simba_measured("plan", scenario, *flags, cwd=tmp_path)
    assert code == 0
    assert every_row - one_row < 8, f"{one_row:.1f} MB for one row, {every_row:.1f} MB for all"


def test_plan_of_millions_of_ticks_prints_its_first_rows_at_once(
    write_scenario: Writer, tmp_path: Path
) -> None:
    """On 3,000,000 ticks the first rows come within seconds and 100,000 rows cost no memory."""
    scenario = seconds_scenario(write_scenario, 3_000_000)
    process = subprocess.Popen(
        [sys.executable, "-m", "simba", "plan", str(scenario)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        started = time.monotonic()
        title = process.stdout.readline()
        assert "final tick 3000000, 3000002 calls" in title
        for _ in range(1_000):
            process.stdout.readline()
        assert time.monotonic() - started < 15, "the first rows waited for the whole plan"
        early = peak_rss_mb(process.pid)
        for _ in range(100_000):
            row = process.stdout.readline()
        assert row.split()[:2] == ["step", "100997"]
        grown = peak_rss_mb(process.pid) - early
        assert grown < 4, f"100,000 rows took {grown:.1f} MB"
    finally:
        process.kill()
        process.communicate()


def test_plan_json_lines_are_one_document_per_batch(write_scenario: Writer, tmp_path: Path) -> None:
    """plan --json prints one JSON document per line, start to end, nothing else."""
    scenario = seconds_scenario(write_scenario, 3)
    result = subprocess.run(
        [sys.executable, "-m", "simba", "plan", str(scenario), "--json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(row["mode"], row["tick"]) for row in rows] == [
        ("start", 0),
        ("step", 0),
        ("step", 1),
        ("step", 2),
        ("end", 3),
    ]
    assert rows[1] == {
        "mode": "step",
        "tick": 0,
        "time": "2024-01-01T00:00:00",
        "calls": ["m"],
        "targetTicks": [1],
    }


@pytest.mark.parametrize("as_json", [False, True])
def test_plan_stops_quietly_when_its_reader_goes(
    write_scenario: Writer, tmp_path: Path, as_json: bool
) -> None:
    """`simba plan BIG | head -3` ends at once with exit 0 and nothing on stderr."""
    scenario = seconds_scenario(write_scenario, 3_000_000)
    command = [sys.executable, "-m", "simba", "plan", str(scenario), *(["--json"] * as_json)]
    started = time.monotonic()
    result = subprocess.run(
        f"{' '.join(command)} | head -3; exit ${{PIPESTATUS[0]}}",
        shell=True,
        executable="/bin/bash",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (result.returncode, result.stderr) == (0, "")
    assert len(result.stdout.splitlines()) == 3
    assert time.monotonic() - started < 20  # not the 3 M rows written into nothing
