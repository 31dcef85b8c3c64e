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


def compile_simba() -> None:
    """Compile SIMBA's bytecode, as an installed package has it.

    An editable install in an environment with PYTHONDONTWRITEBYTECODE set would
    otherwise compile every source file in every timed process (about 60 ms here).
    """
    compileall.compile_dir(Path(simba_package.__file__).parent, quiet=1)


MEASURED = ("simba", "bare", "one", "bare3", "python", "imports", "all_imports")
#: What every ``simba run`` imports: the CLI, the engine, and jsonschema for validation.
ALL_IMPORTS = "import click, jsonschema, simba.cli, simba.engine.loop, simba.runners.local"


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
        compile_simba()
        simba = [sys.executable, "-m", "simba", "run", "--run-id"]
        # A first run writes the config files the bare loop reuses (and warms caches).
        subprocess.run(
            [*simba, "first", str(scenario)], cwd=root, check=True, stdout=subprocess.DEVNULL
        )
        configs = sorted((root / "runs" / "first").glob("*/module_1.json"))

        times: dict[str, list[float]] = {name: [] for name in MEASURED}
        imports = [sys.executable, "-c", "import click, jsonschema"]
        all_imports = [sys.executable, "-c", ALL_IMPORTS]
        for round_number in range(args.rounds):
            # Each round writes a new run directory, as the bare loop writes new copies.
            many = [*simba, f"many{round_number}", str(scenario)]
            times["simba"].append(timed(many, root))
            copies = copy_configs(configs, root / f"bare{round_number}")
            bare = [sys.executable, "-c", BARE_LOOP, str(scenario / "tiny.sh")]
            times["bare"].append(timed([*bare, *copies], root))
            times["one"].append(timed([*simba, f"one{round_number}", str(one_tick)], root))
            # The bare loop over a 1-tick run's three calls (start, step, end).
            times["bare3"].append(timed([*bare, copies[0], copies[1], copies[-1]], root))
            times["python"].append(timed([sys.executable, "-c", "pass"], root))
            times["imports"].append(timed(imports, root))
            times["all_imports"].append(timed(all_imports, root))

    median = {name: statistics.median(values) for name, values in times.items()}
    calls = len(configs)
    per_call = (median["simba"] - median["one"]) / (median["bare"] - median["bare3"])
    budget = 0.15 * median["bare"] - (median["python"])
    print(f"calls per run:              {calls} (1 module x {args.ticks} ticks + start + end)")
    print(f"simba run, median of {args.rounds}:     {median['simba']:.3f} s")
    print(f"bare Python loop, median:   {median['bare']:.3f} s")
    print(f"ratio simba / bare:         {median['simba'] / median['bare']:.3f}  (target <= 1.15)")
    print(f"1-tick simba run, median:   {median['one']:.3f} s  (target <= 0.35)")
    print("without start-up (each run minus its 3-call run):")
    print(f"  per-call ratio:           {per_call:.3f}")
    print(
        f"  per-call overhead:        "
        f"{(per_call - 1) * (median['bare'] - median['bare3']) / (calls - 3) * 1e6:.0f} us"
    )
    print("start-up:")
    print(f"  python -c pass:           {median['python']:.3f} s")
    print(f"  import click, jsonschema: {median['imports']:.3f} s")
    print(f"  every import of a run:    {median['all_imports']:.3f} s  ({ALL_IMPORTS[7:]})")
    print(
        f"  the target leaves {budget:.3f} s beyond Python's own start-up for all of "
        "SIMBA's start-up and per-call work"
    )
    for name, what in (("imports", "click and jsonschema"), ("all_imports", "every import")):
        floor = 1 + (median[name] - median["python"]) / median["bare"]
        print(f"  ratio if importing {what} were SIMBA's only cost: {floor:.3f}")


if __name__ == "__main__":
    main()
