#!/usr/bin/env python3
"""``simba report`` of a 10,000-call run: its size, how long it takes, how long it opens.

A real run of the quickstart (``examples/quickstart``) lengthened to about 10,000 calls is
made once in a temporary directory; then, over several rounds, the median of:

* the report's size (target <= 2 MB);
* ``simba report RUN`` as a process, start-up included (target <= 5 s);
* opening the file in Debian's headless Chromium (through Playwright) until its script
  has drawn every chart (target <= 3 s).

Usage: ``python benchmarks/report.py [--rounds N] [--days D]`` (needs /usr/bin/chromium
and Playwright: ``pip install -e '.[test]'``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip


def simba(*args: str, cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "simba", *args], cwd=cwd, check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip
    return time.perf_counter() - started


def long_quickstart(directory: Path, days: int) -> Path:
    scenario = directory / "quickstart"
    shutil.copytree(ROOT / "examples" / "quickstart", scenario)
    driver = json.loads((scenario / "driver.json").read_text())
    driver["endTime"] = f"P{days}D"
    (scenario / "driver.json").write_text(json.dumps(driver))
    return scenario


def open_times(path: Path, rounds: int) -> list[float]:
    from playwright.sync_api import sync_playwright

    times = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        for _ in range(rounds):
            context = browser.new_context(viewport={"width": 1300, "height": 900})
            page = context.new_page()
            started = time.perf_counter()
            page.goto(path.as_uri())
            page.wait_for_selector("body[data-ready='1']", timeout=60_000)
            times.append(time.perf_counter() - started)
            context.close()
        browser.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--days", type=int, default=3180, help="simulated days (~3.2 calls each)")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        directory = Path(work)
        scenario = long_quickstart(directory, options.days)
        run_time = simba("run", str(scenario), "--run-id", "long", cwd=directory)
        run = directory / "runs" / "long"
        with sqlite3.connect(run / ".simba" / "run.db") as db:
            (calls,) = db.execute("SELECT count(*) FROM attempts").fetchone()
        output = directory / "report.html"
        report_times = [
            simba("report", str(run), "-o", str(output), cwd=directory)
            for _ in range(options.rounds)
        ]
        size = output.stat().st_size
        opened = open_times(output, options.rounds)
    print(f"run of {calls} calls: {run_time:.1f} s (made once)")
    print(f"report size:        {size / 1024 / 1024:.2f} MB (target <= 2 MB)")
    print(f"simba report:       {statistics.median(report_times):.2f} s median of "
          f"{options.rounds} (target <= 5 s)")  # fmt: skip
    print(f"open in Chromium:   {statistics.median(opened):.2f} s median of "
          f"{options.rounds} (target <= 3 s)")  # fmt: skip


if __name__ == "__main__":
    main()
