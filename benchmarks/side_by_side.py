"""Per-call cost of two SIMBA trees side by side: ``benchmarks/side_by_side.py BEFORE AFTER``.

BEFORE and AFTER are the Python executables of two virtual environments, each with its
own SIMBA installed (for instance a worktree of the previous commit and this one).  Each
round runs, in alternating order, ``simba run`` of one tiny ``sh`` module over 1000
ticks and over 1 tick with each; the per-call figures are (1000-tick run - 1-tick run) /
1000 calls, so start-up cancels out.  Two figures per call: the wall time of the whole
``simba`` process, and the driver's own CPU time (``RUSAGE_SELF``: all its threads, not
the module processes), which a loaded machine disturbs less than wall time.  Printed:
every round, then the medians of both sides and the median of the paired ratios
(after / before).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile
from pathlib import Path

from overhead import write_scenario  # the same tiny sh module over N ticks

TICKS = 1000
#: Runs the simba CLI in this process and prints its wall and own CPU time as JSON.
WRAP = r"""
import json, resource, sys, time
started = time.perf_counter()
from simba.cli import main
sys.argv = ["simba", *sys.argv[1:]]
try:
    main()
except SystemExit as exc:
    code = exc.code
usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"wall": time.perf_counter() - started,
                  "cpu": usage.ru_utime + usage.ru_stime, "code": code}))
"""


def simba_run(python: str, scenario: Path, out: Path, run_id: str) -> dict[str, float]:
    """One ``simba run`` with ``python``'s SIMBA: its wall and CPU seconds."""
    command = [python, "-c", WRAP, "run", "-o", str(out), "--run-id", run_id, str(scenario)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=out, check=False)
    figures: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    if figures["code"] not in (0, None):
        raise SystemExit(f"{' '.join(command)} failed: {done.stderr[-2000:]}")
    shutil.rmtree(out / run_id)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", help="the Python of the environment to compare against")
    parser.add_argument("after", help="the Python of the environment measured")
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    sides = {"before": args.before, "after": args.after}
    results: dict[str, dict[str, list[float]]] = {s: {"wall": [], "cpu": []} for s in sides}
    with tempfile.TemporaryDirectory(prefix="simba-side-by-side-") as temp:
        root = Path(temp)
        many, one = (write_scenario(root / f"ticks-{n}", n) for n in (TICKS, 1))
        out = root / "runs"
        out.mkdir()
        for side, python in sides.items():  # warm the caches of both
            simba_run(python, many, out, f"warm-{side}")
        for number in range(args.rounds):
            order = list(sides) if number % 2 == 0 else list(reversed(sides))
            for side in order:
                python = sides[side]
                long = simba_run(python, many, out, f"{side}-{number}-many")
                short = simba_run(python, one, out, f"{side}-{number}-one")
                for key in ("wall", "cpu"):
                    results[side][key].append((long[key] - short[key]) / TICKS)
            line = "; ".join(
                f"{key} us/call before {results['before'][key][-1] * 1e6:.0f} "
                f"after {results['after'][key][-1] * 1e6:.0f}"
                for key in ("wall", "cpu")
            )
            print(f"round {number + 1}: {line}; load {os.getloadavg()[0]:.2f}", flush=True)
    for key in ("wall", "cpu"):
        before, after = results["before"][key], results["after"][key]
        paired = statistics.median(a / b for a, b in zip(after, before, strict=True))
        print(
            f"{key}: median before {statistics.median(before) * 1e6:.0f} us, after "
            f"{statistics.median(after) * 1e6:.0f} us per call; median of paired ratios "
            f"after/before {paired:.3f}"
        )


if __name__ == "__main__":
    main()
