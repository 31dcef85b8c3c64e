"""Make docs/images/report.png: the top of a real report of the quickstart run.

Runs ``examples/quickstart`` in a temporary directory, writes its report with ``simba
report`` and photographs it in Debian's headless Chromium (through Playwright, as the
tests do).  Usage, from the repository::

    python docs/report_screenshot.py [--output docs/images/report.png]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip


def simba(*args: str, cwd: Path) -> None:
    subprocess.run([sys.executable, "-m", "simba", *args], cwd=cwd, check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "images" / "report.png")
    options = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as work:
        directory = Path(work)
        simba("run", str(ROOT / "examples" / "quickstart"), "--run-id", "demo", cwd=directory)
        simba("report", "runs/demo", "-o", "report.html", cwd=directory)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(viewport={"width": 1200, "height": 1400})
            page.goto((directory / "report.html").as_uri())
            page.wait_for_selector("body[data-ready='1']")
            page.screenshot(path=str(options.output))
            browser.close()
    print(f"wrote {options.output}")


if __name__ == "__main__":
    main()
