#!/usr/bin/env python3
"""``simba compare`` of two 10,000-tick runs with 20 numeric keys (target: <= 2 s).

Makes two runs of one resident SDK module (``modules/sdk_twenty.py``) that sets 20
numeric commonData keys at each of 10,000 ticks; the second run shifts one key from
tick 9,000 on, so the comparison walks every history and finds a difference late.
Then times, as whole processes (start-up included), the median of ``--rounds`` rounds
(wall time, and the process's CPU time beside it: on a busy machine the wall time
grows, the CPU time hardly):

* ``simba compare RUN_A RUN_B`` (exit 1: different),
* ``simba compare BASELINE RUN_B`` against a baseline saved from run A,

and prints each beside the target, with the baseline's size.  The runs themselves take
a minute or so; ``--ticks`` makes them shorter for a smoke run (not comparable);
``--keep DIR`` keeps the runs and reuses them the next time.

Usage: ``python benchmarks/compare.py [--ticks N] [--rounds N] [--keep DIR]``.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
MODULE = HERE / "modules" / "sdk_twenty.py"
TARGET = 2.0
#: The CPU seconds of each simba process, in order.
CPU: list[float] = []


def scenario(directory: Path, ticks: int, shift: float) -> Path:
    directory.mkdir(parents=True)
    driver = {
        "initialTime": "2024-01-01T00:00:00",
        "endTime": f"PT{ticks}M",
        "scheduleIntervals": [{"tickDuration": "PT1M"}],
    }
    schedule = {
        "schedule": [
            {
                "name": "twenty",
                "command": [sys.executable, str(MODULE)],
                "type": "resident",
                "priority": 0,
                "updateCommonData": True,
                "moduleData": {"shift": shift, "shiftFrom": int(ticks * 0.9)},
            }
        ],
        "commonData": {f"k{index:02d}": 0.0 for index in range(20)},
    }
    (directory / "driver.json").write_text(json.dumps(driver))
    (directory / "schedule.json").write_text(json.dumps(schedule))
    return directory


def simba(*args: str | Path, cwd: Path) -> tuple[int, float, str]:
    """Exit status, wall seconds and output of a ``simba`` process; its CPU seconds are
    added to :data:`CPU` (they hardly depend on what else the machine does)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "simba", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return result.returncode, wall, result.stdout + result.stderr


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--keep", type=Path, help="Work in this directory and keep it.")
    options = parser.parse_args()
    work = options.keep or Path(tempfile.mkdtemp(prefix="simba-compare-bench-"))
    runs = {}
    for name, shift in (("a", 0.0), ("b", 0.5)):
        runs[name] = work / "runs" / name
        if (runs[name] / ".simba" / "run.db").is_file():  # --keep DIR of an earlier time
            continue
        source = scenario(work / f"scenario-{name}", options.ticks, shift)
        status, seconds, output = simba(
            "run", source, "--run-id", name, "-o", work / "runs", cwd=work
        )
        if status != 0:
            print(output)
            return 1
        print(f"run {name}: {options.ticks} ticks in {seconds:.1f} s")
    baseline = work / "baseline.json"
    simba("baseline", "save", runs["a"], baseline, cwd=work)
    for label, first in (("two runs", runs["a"]), ("baseline and run", baseline)):
        times = []
        CPU.clear()
        for _ in range(options.rounds):
            status, seconds, output = simba("compare", first, runs["b"], cwd=work)
            if status != 1 or "k07: first differs" not in output:
                print(output)
                return 1
            times.append(seconds)
        median = statistics.median(times)
        verdict = "met" if median <= TARGET else "MISSED"
        print(
            f"simba compare, {label}, {options.ticks} ticks x 20 keys: median {median:.3f} s "
            f"of {options.rounds} (min {min(times):.3f}, max {max(times):.3f}; CPU "
            f"{statistics.median(CPU):.3f} s); target <= {TARGET} s: {verdict}"
        )
    print(f"baseline size: {baseline.stat().st_size / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
