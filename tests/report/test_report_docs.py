"""docs/report.rst, run as written: its session, and the script that makes its screenshot."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from browser import chromium, distinct_colours
from conftest import EXAMPLES, ROOT
from test_docs_examples import DOCS, Session


@pytest.fixture(scope="module")
def browser() -> Any:
    yield from chromium()


def test_the_report_page_shows_what_simba_report_prints(tmp_path: Path) -> None:
    shutil.copytree(EXAMPLES / "quickstart", tmp_path / "examples" / "quickstart")
    session = Session(tmp_path)
    played = session.follow(DOCS / "report.rst")
    assert played == ["report-quickstart"]
    assert (tmp_path / "runs" / "demo" / "report.html").is_file()
    assert (tmp_path / "demo.html").is_file()


def test_the_screenshot_script_photographs_a_real_report(browser: Any, tmp_path: Path) -> None:
    target = tmp_path / "report.png"
    command = [sys.executable, "docs/report_screenshot.py", "--output", str(target)]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"wrote {target}\n"
    assert distinct_colours(browser, target.read_bytes()) > 50
    assert (ROOT / "docs" / "images" / "report.png").is_file()
