#!/usr/bin/env python3
"""SIMBA's per-call overhead against the floor: a bare Python loop running the same module.

Measured side by side in one run, rounds interleaved, medians reported:

- ``simba run`` of 1 module x 1000 ticks with a tiny POSIX sh module (a whole process,
  start-up included, output to /dev/null);
- a bare Python process that runs the same module over the same 1000 config files
  (fresh copies written beforehand, so the loop does nothing but start the module);
- ``simba run`` of a 1-tick scenario (start, one step, end).

Usage: ``python benchmarks/overhead.py [--ticks 1000] [--rounds 5]``.
Targets (issue 2): ratio <= 1.15; 1-tick run <= 0.35 s.
"""

from __future__ import annotations

import argparse
import compileall
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import simba as simba_package

MODULE = """#!/bin/sh
# Tiny module: the status file sits beside the config (module_1.json -> status_1.json).
printf '{"status": "success"}' > "${1%/*}/status_1.json"
"""

BARE_LOOP = """
import subprocess, sys
module, configs = sys.argv[1], sys.argv[2:]
for config in configs:
    subprocess.run([module, config], check=True)
"""


def write_scenario(directory: Path, ticks: int) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    module = directory / "tiny.sh"
    module.write_text(MODULE)
    module.chmod(0o755)
    driver = {
        "initialTime": "2024-01-01T00:00:00",
        "endTime": f"PT{ticks}S",
        "scheduleIntervals": [{"tickDuration": "PT1S"}],
    }
    schedule = {"schedule": [{"name": "tiny", "command": "./tiny.sh", "priority": 1}]}
    (directory / "driver.json").write_text(json.dumps(driver))
    (directory / "schedule.json").write_text(json.dumps(schedule))
    return directory


def copy_configs(configs: list[Path], target: Path) -> list[str]:
    """Fresh copies of the config files, each in its own directory and without a status
    file, so that the bare loop's module creates its status file as SIMBA's does."""
    copies = []
    for config in configs:
        directory = target / config.parent.name
        directory.mkdir(parents=True)
        copy = directory / config.name
        shutil.copyfile(config, copy)
        copies.append(str(copy))
    return copies


def timed(command: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="simba-bench-") as temp:
        root = Path(temp)
        scenario = write_scenario(root / "many", args.ticks)
        one_tick = write_scenario(root / "one", 1)
        # As installed packages do, SIMBA has its bytecode compiled (this matters where
        # PYTHONDONTWRITEBYTECODE is set and the package is an editable install).
        compileall.compile_dir(Path(simba_package.__file__).parent, quiet=1)
        simba = [sys.executable, "-m", "simba", "run", "--run-id"]
        # A first run writes the config files the bare loop reuses (and warms caches).
        subprocess.run(
            [*simba, "first", str(scenario)], cwd=root, check=True, stdout=subprocess.DEVNULL
        )
        configs = sorted((root / "runs" / "first").glob("*/module_1.json"))

        simba_times, bare_times, one_times = [], [], []
        for round_number in range(args.rounds):
            # Each round writes a new run directory, as the bare loop writes new copies.
            simba_times.append(timed([*simba, f"many{round_number}", str(scenario)], root))
            copies = copy_configs(configs, root / f"bare{round_number}")
            bare = [sys.executable, "-c", BARE_LOOP, str(scenario / "tiny.sh"), *copies]
            bare_times.append(timed(bare, root))
            one_times.append(timed([*simba, f"one{round_number}", str(one_tick)], root))

    simba_median = statistics.median(simba_times)
    bare_median = statistics.median(bare_times)
    calls = len(configs)
    print(f"calls per run:              {calls} (1 module x {args.ticks} ticks + start + end)")
    print(f"simba run, median of {args.rounds}:     {simba_median:.3f} s")
    print(f"bare Python loop, median:   {bare_median:.3f} s")
    print(f"per-call overhead:          {(simba_median - bare_median) / calls * 1e6:.0f} us")
    print(f"ratio simba / bare:         {simba_median / bare_median:.3f}  (target <= 1.15)")
    print(f"1-tick simba run, median:   {statistics.median(one_times):.3f} s  (target <= 0.35)")


if __name__ == "__main__":
    main()
