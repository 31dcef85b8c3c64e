#!/usr/bin/env python3
"""What a container costs: a module run per call in Podman against a plain process, and a
resident module in a container against one outside.

Four scenarios of 1 module x TICKS ticks (TICKS + 2 calls: start, steps, end), each a
``simba run`` process, rounds interleaved, medians reported:

- ``local``: a tiny POSIX sh module, one process per call;
- ``local in podman``: the same module, one container per call (the busybox test image);
- ``resident``: a resident sh module answering over stdin (shell built-ins only);
- ``resident in podman``: the same, in one container for the run.

Per-call time = (run wall time - the same scenario's 1-tick run wall time) / (ticks - 1),
so SIMBA's and the engine's start-up and the image digest lookup are left out.  A
container per call takes TICKS ticks; the three fast cases take 25 times as many.

Usage: ``python benchmarks/containers.py [--ticks 20] [--rounds 3]``; needs Podman and
builds the test images with ``tests/containers/images.sh`` (no registry).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
IMAGE = "localhost/simba-test/busybox:1"
MODULE = """#!/bin/sh
printf '{"status": "success"}' > "${1%/*}/status_1.json"
"""
CASES = {
    "local": {"command": "./tiny.sh"},
    "local in podman": {"command": "./tiny.sh", "container": {"image": IMAGE}},
    "resident": {"command": "./resident_ok.sh", "type": "resident"},
    "resident in podman": {
        "command": "./resident_ok.sh",
        "type": "resident",
        "container": {"image": IMAGE},
    },
}


def write(directory: Path, case: dict[str, object], ticks: int) -> Path:
    directory.mkdir(parents=True)
    (directory / "tiny.sh").write_text(MODULE)
    (directory / "tiny.sh").chmod(0o755)
    shutil.copy(ROOT / "benchmarks" / "modules" / "resident_ok.sh", directory)
    driver = {
        "initialTime": "2024-01-01T00:00:00",
        "endTime": f"PT{ticks}S",
        "scheduleIntervals": [{"tickDuration": "PT1S"}],
    }
    schedule = {"schedule": [{"name": "m", "priority": 1, **case}]}
    (directory / "driver.json").write_text(json.dumps(driver))
    (directory / "schedule.json").write_text(json.dumps(schedule))
    return directory


def timed(directory: Path) -> float:
    started = time.perf_counter()
    command = [sys.executable, "-m", "simba", "run", ".", "--overwrite"]
    subprocess.run(command, cwd=directory, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ticks", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if shutil.which("podman") is None:
        sys.exit("Podman is not installed (apt-get install podman runc uidmap)")
    subprocess.run(["bash", str(ROOT / "tests/containers/images.sh"), "podman"], check=True)
    per_call: dict[str, list[float]] = {name: [] for name in CASES}
    with tempfile.TemporaryDirectory() as temporary:
        base = Path(temporary)
        many = {name: args.ticks * (1 if name == "local in podman" else 25) for name in CASES}
        dirs = {
            (name, ticks): write(base / f"{i}-{ticks}", case, ticks)
            for i, (name, case) in enumerate(CASES.items())
            for ticks in (1, many[name])
        }
        for _ in range(args.rounds):
            for name in CASES:
                long, short = timed(dirs[name, many[name]]), timed(dirs[name, 1])
                per_call[name].append((long - short) / (many[name] - 1))
    median = {name: statistics.median(values) for name, values in per_call.items()}
    print(f"per-call time, median of {args.rounds} rounds:")
    for name, value in median.items():
        print(f"  {name:20} {value * 1000:8.2f} ms  ({many[name]} ticks)")
    print(f"  local in podman / local        {median['local in podman'] / median['local']:6.1f}")
    ratio = median["resident in podman"] / median["resident"]
    print(f"  resident in podman / resident  {ratio:6.1f}")


if __name__ == "__main__":
    main()
