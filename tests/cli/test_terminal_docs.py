"""The run output that docs/cli.rst shows is what ``simba run`` prints, run for real."""

from __future__ import annotations

from pathlib import Path

from test_docs_examples import DOCS, Session


def test_the_cli_page_shows_what_a_failed_and_resumed_run_prints(tmp_path: Path) -> None:
    """docs/cli.rst's scenario, written out, fails, resumes, and prints what it shows."""
    session = Session(tmp_path)
    assert session.follow(DOCS / "cli.rst") == ["cli-run-output"]
    failed = session.outputs["simba run demo --run-id demo"].splitlines()
    assert failed[-1].startswith("run failed: 3/6 calls in ")
    assert "to continue the run: simba run --resume /home/me/simba/runs/demo" in failed
