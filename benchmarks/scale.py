#!/usr/bin/env python3
"""The peers benchmark (issue 15): two simulators exchanging one value, per exchange step.

A publishes a value each step, B reads it, for N steps (default 5,000), in:

* SIMBA: two resident SDK modules (``benchmarks/modules/peer_sdk.py``), A before B in
  each tick by priority, exchanging commonData ``value``; with the inline protocol and
  with the file protocol, in
  each run layout, on tmpfs (``/dev/shm``) and on the disk (the file system of
  ``benchmarks/``, shown in the table);
* mosaik 3.6: two ``cmd`` simulators over loopback TCP (``modules/mosaik_peers.py``,
  installed into ``benchmarks/.venv-mosaik`` on first use, as figure (g) does);
* HELICS 3.6: the Python bindings, a ZMQ broker and two federate processes
  (``modules/helics_peers.py``, installed into ``benchmarks/.venv-helics``);
* the floor: no driver, a bare loop speaking the inline protocol to the same two SDK
  modules (``modules/peers_floor.py``): the least any driver that calls two module
  processes in turn over pipes takes with these modules on this machine.

Times are medians over ``--rounds`` rounds, run side by side in this one process; a SIMBA
time is the run loop's (``summary.json`` ``wallTime``), mosaik's its ``world.run`` and
HELICS's the reader federate's time in executing mode, each divided by N.  Targets: SIMBA
(inline protocol, journal layout) <= 0.5 x mosaik and <= 2 x HELICS.

Usage: ``python benchmarks/scale.py [--steps N] [--rounds R] [--layouts tick,journal]
[--only simba,floor,mosaik,helics]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median
from typing import Any

HERE = Path(__file__).resolve().parent
MODULES = HERE / "modules"
SIMBA = [sys.executable, "-m", "simba"]
VENVS = {
    "mosaik": (HERE / ".venv-mosaik", "mosaik>=3.6,<4"),
    "helics": (HERE / ".venv-helics", "helics>=3.6,<4"),
}


class NotMeasured(Exception):
    """A side of the benchmark could not run; the message says why."""


def venv_python(name: str) -> Path:
    """The interpreter of ``name``'s own environment, installed on first use."""
    venv, requirement = VENVS[name]
    python = venv / "bin" / "python"
    probe = [str(python), "-c", f"import {name}"]
    if python.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return python
    for step in (
        [sys.executable, "-m", "venv", str(venv)],
        [str(python), "-m", "pip", "install", "-q", requirement],
    ):
        done = subprocess.run(step, capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            tail = " / ".join((done.stderr or done.stdout).strip().splitlines()[-3:])
            raise NotMeasured(f"{requirement} could not be installed: {tail}")
    return python


def version(python: Path, name: str) -> str:
    code = f"import importlib.metadata as m; print(m.version({name!r}))"
    return subprocess.run([str(python), "-c", code], capture_output=True, text=True).stdout.strip()


def scenario(root: Path, steps: int, protocol: str, layout: str) -> Path:
    """The SIMBA scenario: ticks 0..steps of a second, A then B each tick."""

    def peer(name: str, role: str, priority: int) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "name": name,
            "priority": priority,
            "type": "resident",
            "protocol": protocol,
            "command": [sys.executable, str(MODULES / "peer_sdk.py"), role],
            "updateCommonData": role == "publish",
        }
        return entry  # A's higher priority runs it first in each tick (no dependsOn: see
        # docs/performance.rst - dependency mode runs each batch in a thread pool)

    driver: dict[str, Any] = {
        "initialTime": "2024-01-01T00:00:00",
        "endTime": f"PT{steps}S",
        "scheduleIntervals": [{"tickDuration": "PT1S"}],
    }
    if layout != "tick":
        driver["runLayout"] = layout
    document = {
        "driver": driver,
        "commonData": {"value": None},
        "schedule": [peer("A", "publish", 2), peer("B", "read", 1)],
    }
    path = root / f"peers-{protocol}-{layout}.json"
    path.write_text(json.dumps(document, indent=2))
    return path


def run_simba(scenario_path: Path, out: Path, run_id: str, steps: int) -> float:
    """Seconds per exchange step of one SIMBA run (the run loop's wall time / steps)."""
    command = [*SIMBA, "run", "-o", str(out), "--run-id", run_id, str(scenario_path)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        raise NotMeasured(f"simba run exited with {done.returncode}: {done.stderr[-500:]}")
    summary = json.loads((out / run_id / ".simba" / "summary.json").read_text())
    seen = summary["modules"]["B"]["moduleData"]["seen"]
    if seen != steps:
        raise NotMeasured(f"SIMBA's reader saw {seen} exchanges, not {steps}")
    return float(summary["wallTime"]) / steps


def run_peer(command: list[str], what: str, steps: int, *, least: int | None = None) -> float:
    """Seconds per step of a peer program that prints ``{"seconds": S, "seen": N}`` last;
    ``what`` names it in errors, ``least`` is the fewest steps its reader must have seen."""
    done = subprocess.run(command, capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        raise NotMeasured(f"{what} exited with {done.returncode}: {done.stderr[-500:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if result["seen"] < (steps if least is None else least):
        raise NotMeasured(f"{what}'s reader saw {result['seen']} exchanges, not {steps}")
    return float(result["seconds"]) / steps


def run_mosaik(python: Path, steps: int, workdir: Path) -> float:
    command = [str(python), str(MODULES / "mosaik_peers.py"), str(steps), str(workdir)]
    return run_peer(command, "the mosaik world", steps)


def run_helics(python: Path, steps: int) -> float:
    command = [str(python), str(MODULES / "helics_peers.py"), str(steps)]
    # the first step sees the initial value
    return run_peer(command, "the HELICS federates", steps, least=steps - 1)


def run_floor(steps: int) -> float:
    return run_peer(
        [sys.executable, str(MODULES / "peers_floor.py"), str(steps)], "the floor loop", steps
    )


def file_system(path: Path) -> str:
    done = subprocess.run(["df", "--output=fstype", str(path)], capture_output=True, text=True)
    return done.stdout.split()[-1] if done.returncode == 0 else "?"


def measure(args: argparse.Namespace) -> dict[str, list[float]]:
    """Per-step seconds of every variant, one list per variant (one entry per round)."""
    times: dict[str, list[float]] = {}
    places = {"tmpfs": Path("/dev/shm"), "disk": HERE}
    pythons: dict[str, Path] = {}
    for name in ("mosaik", "helics"):
        if name in args.only:
            try:
                pythons[name] = venv_python(name)
            except NotMeasured as exc:
                print(f"{name}: NOT MEASURED: {exc}", flush=True)
    for number in range(args.rounds):
        for place, base in places.items():
            if "simba" not in args.only:
                continue
            with tempfile.TemporaryDirectory(prefix="simba-scale-", dir=base) as temp:
                root = Path(temp)
                for protocol in ("inline", "file"):
                    for layout in args.layouts:
                        where = f"{place} ({file_system(root)})"
                        key = f"SIMBA {protocol} protocol, {layout} layout, {where}"
                        path = scenario(root, args.steps, protocol, layout)
                        run_id = f"{protocol}-{layout}-{number}"
                        times.setdefault(key, []).append(
                            run_simba(path, root / "runs", run_id, args.steps)
                        )
                        print(
                            f"  round {number + 1}: {key}: {times[key][-1] * 1e3:.3f} ms",
                            flush=True,
                        )
                        shutil.rmtree(root / "runs" / run_id)  # not timed
        if "floor" in args.only:
            key = "floor: no driver, 2 SDK modules, inline"
            times.setdefault(key, []).append(run_floor(args.steps))
            print(f"  round {number + 1}: {key}: {times[key][-1] * 1e3:.3f} ms", flush=True)
        if "mosaik" in pythons:
            with tempfile.TemporaryDirectory(prefix="simba-scale-mosaik-") as temp:
                key = f"mosaik {version(pythons['mosaik'], 'mosaik')} (2 cmd simulators, TCP)"
                times.setdefault(key, []).append(
                    run_mosaik(pythons["mosaik"], args.steps, Path(temp))
                )
                print(f"  round {number + 1}: {key}: {times[key][-1] * 1e3:.3f} ms", flush=True)
        if "helics" in pythons:
            key = f"HELICS {version(pythons['helics'], 'helics')} (2 federates, ZMQ)"
            times.setdefault(key, []).append(run_helics(pythons["helics"], args.steps))
            print(f"  round {number + 1}: {key}: {times[key][-1] * 1e3:.3f} ms", flush=True)
    return times


def report(times: dict[str, list[float]]) -> str:
    medians = {key: median(values) for key, values in times.items()}

    def base(prefix: str) -> float | None:
        return next((v for k, v in medians.items() if k.startswith(prefix)), None)

    bases = {"/mosaik": base("mosaik"), "/HELICS": base("HELICS"), "/floor": base("floor")}
    head = "".join(f" {name:>8}" for name in bases)
    lines = [f"{'per exchange step (median)':<62} {'ms':>8}{head}"]
    for key, value in medians.items():
        ratios = "".join(f" {value / b:8.2f}" if b else f" {'-':>8}" for b in bases.values())
        lines.append(f"{key:<62} {value * 1e3:8.3f}{ratios}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--steps", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", default="simba,floor,mosaik,helics")
    parser.add_argument("--layouts", default="tick,journal", help="comma-separated")
    args = parser.parse_args()
    args.only = set(args.only.split(","))
    args.layouts = args.layouts.split(",")
    started = time.perf_counter()
    print(
        f"peers benchmark: {args.steps:,} steps, {args.rounds} rounds, "
        f"load {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    try:
        times = measure(args)
    except NotMeasured as exc:
        print(f"NOT MEASURED: {exc}")
        sys.exit(1)
    print(report(times))
    print(f"({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
