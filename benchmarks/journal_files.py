#!/usr/bin/env python3
"""Files and memory of a long journal-layout run (issue 15), at two lengths side by side.

Three resident SDK modules (``benchmarks/modules/peer_sdk.py``): A publishes commonData
``value`` each tick and B reads it, both with the inline protocol; C reads it with the
file protocol.  The run goes in the journal layout for ``--short`` and ``--long`` ticks
(default 10,000 and 100,000), on the file system of ``--where`` (default: beside this
script).  For each it prints the calls, the files and directories the run directory
holds, the size of ``run.db``, the wall time and the driver's peak RSS (``os.wait4`` of
``simba run``).  Targets: fewer than 100 files, and the two peaks within 10 MB.

Usage: ``python benchmarks/journal_files.py [--short N] [--long N] [--where DIR]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PEER = HERE / "modules" / "peer_sdk.py"
#: The targets of the issue.
MAX_FILES = 100
MAX_RSS_GROWTH_KB = 10 * 1024


def scenario(directory: Path, ticks: int) -> Path:
    def module(name: str, role: str, priority: int, protocol: str) -> dict[str, Any]:
        return {
            "name": name,
            "priority": priority,
            "type": "resident",
            "protocol": protocol,
            "command": [sys.executable, str(PEER), role],
            "updateCommonData": role == "publish",
        }

    document = {
        "driver": {
            "initialTime": "2024-01-01T00:00:00",
            "endTime": f"PT{ticks}S",
            "scheduleIntervals": [{"tickDuration": "PT1S"}],
            "runLayout": "journal",
        },
        "commonData": {"value": None},
        "schedule": [
            module("A", "publish", 3, "inline"),
            module("B", "read", 2, "inline"),
            module("C", "read", 1, "file"),
        ],
    }
    path = directory / f"three-{ticks}.json"
    path.write_text(json.dumps(document, indent=2))
    return path


def measure(root: Path, ticks: int) -> dict[str, Any]:
    """One run of ``ticks`` ticks: its figures (the run directory is kept, not timed)."""
    path = scenario(root, ticks)
    command = [sys.executable, "-m", "simba", "run", "-q", "-o", str(root / "runs")]
    command += ["--run-id", f"t{ticks}", str(path)]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    assert process.stderr is not None
    error = process.stderr.read().decode(errors="replace")
    process.stderr.close()
    if process.returncode != 0:
        raise SystemExit(f"simba run of {ticks} ticks exited {process.returncode}: {error[-500:]}")
    run_dir = root / "runs" / f"t{ticks}"
    files = [p for p in run_dir.rglob("*") if not p.is_dir()]
    directories = [p for p in run_dir.rglob("*") if p.is_dir()]
    summary = json.loads((run_dir / ".simba" / "summary.json").read_text())
    seen = summary["modules"]["C"]["moduleData"]["seen"]
    if seen != ticks:
        raise SystemExit(f"C saw {seen} exchanges of {ticks}: the run is wrong")
    return {
        "ticks": ticks,
        "calls": summary["calls"],
        "files": len(files),
        "directories": len(directories),
        "db_mb": (run_dir / ".simba" / "run.db").stat().st_size / 1e6,
        "wall_s": wall,
        "rss_kb": usage.ru_maxrss,
    }


def file_system(path: Path) -> str:
    done = subprocess.run(["df", "--output=fstype", str(path)], capture_output=True, text=True)
    return done.stdout.split()[-1] if done.returncode == 0 else "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--short", type=int, default=10_000)
    parser.add_argument("--long", type=int, default=100_000)
    parser.add_argument("--where", type=Path, default=HERE)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="simba-journal-", dir=args.where) as temp:
        root = Path(temp)
        print(f"journal layout, 3 resident modules, on {file_system(root)} ({root})", flush=True)
        rows = [measure(root, ticks) for ticks in (args.short, args.long)]
        print(
            f"{'ticks':>9} {'calls':>9} {'files':>6} {'dirs':>5} {'run.db MB':>10}"
            f" {'wall s':>8} {'driver RSS MB':>14}"
        )
        for r in rows:
            print(
                f"{r['ticks']:>9,} {r['calls']:>9,} {r['files']:>6} {r['directories']:>5}"
                f" {r['db_mb']:>10.1f} {r['wall_s']:>8.1f} {r['rss_kb'] / 1024:>14.1f}"
            )
        growth = rows[1]["rss_kb"] - rows[0]["rss_kb"]
        files_ok = all(r["files"] < MAX_FILES for r in rows)
        rss_ok = abs(growth) <= MAX_RSS_GROWTH_KB
        print(
            f"files < {MAX_FILES}: {'met' if files_ok else 'MISSED'}; driver RSS "
            f"{args.short:,} -> {args.long:,} ticks: {growth / 1024:+.1f} MB "
            f"(target within 10 MB): {'met' if rss_ok else 'MISSED'}"
        )
        print("(the run directories are removed now, after the measurement)", flush=True)


if __name__ == "__main__":
    main()
