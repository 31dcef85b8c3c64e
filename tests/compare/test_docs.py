"""docs/compare.rst and the CI recipe of docs/ci.rst, run as written."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import EXAMPLES
from helpers import validate_junit
from test_docs_examples import DOCS, Session, read_blocks


def test_the_compare_page_runs_as_written(tmp_path: Path) -> None:
    """The baseline, the equal run and the changed run of docs/compare.rst print what the
    page shows (the changed run exits 1)."""
    shutil.copytree(EXAMPLES / "quickstart", tmp_path / "examples" / "quickstart")
    played = Session(tmp_path).follow(DOCS / "compare.rst")
    assert played == ["compare-baseline", "compare-changed"]


def recipe_commands() -> dict[str, list[tuple[str, str]]]:
    """The shell lines of the recipe, by CI system: (what, command) in order.

    GitHub Actions: every step's ``run:``; GitLab CI: ``script:`` then ``after_script:``.
    Steps that only ``uses:`` an action (checkout, setup-python, upload-artifact) and
    GitLab's ``artifacts:`` are the CI system's own and have no command.
    """
    import yaml

    blocks = {b.options.get("caption"): b for b in read_blocks(DOCS / "ci.rst")}
    github = yaml.safe_load(blocks[".github/workflows/simulation.yml"].text)
    gitlab = yaml.safe_load(blocks[".gitlab-ci.yml"].text)
    commands: dict[str, list[tuple[str, str]]] = {"github": [], "gitlab": []}
    for job in github["jobs"].values():
        for step in job["steps"]:
            if "run" in step:
                commands["github"].append((step.get("name", ""), step["run"]))
    for job in gitlab.values():
        for key in ("script", "after_script"):
            commands["gitlab"] += [(key, line) for line in job.get(key, [])]
    return commands


def uploads() -> list[Any]:
    """The upload steps the test cannot run (they need the CI system's artifact store)."""
    import yaml

    blocks = {b.options.get("caption"): b for b in read_blocks(DOCS / "ci.rst")}
    github = yaml.safe_load(blocks[".github/workflows/simulation.yml"].text)
    gitlab = yaml.safe_load(blocks[".gitlab-ci.yml"].text)
    steps = [s for job in github["jobs"].values() for s in job["steps"] if "uses" in s]
    return [s["uses"] for s in steps] + [job["artifacts"] for job in gitlab.values()]


def has_report_command() -> bool:
    result = subprocess.run(
        [sys.executable, "-m", "simba", "report", "--help"], capture_output=True, check=False
    )
    return result.returncode == 0


def shell(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """A recipe line in bash, with this environment's simba and python first on PATH.

    ``PIP_NO_INDEX``: ``pip install simba-cosim`` must find SIMBA installed already (as
    in CI after the install step), never download anything.
    """
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    env = {**os.environ, "PATH": path, "PIP_NO_INDEX": "1", "LC_ALL": "C"}
    return subprocess.run(
        ["bash", "-e", "-c", command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.parametrize("system", ["github", "gitlab"])
def test_the_ci_recipe_runs(tmp_path: Path, system: str) -> None:
    """In the layout of docs/ci.rst (the quickstart as scenarios/epidemic, the baseline
    made as the page says), every run:/script: line of the recipe succeeds and leaves
    valid JUnit files and a Markdown comment; then, with a module's parameter changed,
    the compare line fails the job.  Skipped: the upload steps (actions/upload-artifact,
    GitLab artifacts), which only a CI system can run; and ``simba report`` until the
    report command is part of this build."""
    shutil.copytree(EXAMPLES / "quickstart", tmp_path / "scenarios" / "epidemic")
    assert Session(tmp_path).follow(DOCS / "ci.rst") == ["ci-baseline"]
    assert (tmp_path / "baselines" / "rules.json").is_file()
    assert len(uploads()) == 4  # checkout, setup-python, upload-artifact; GitLab artifacts
    report = has_report_command()
    for what, command in recipe_commands()[system]:
        if command.startswith("simba report") and not report:
            continue  # simba report comes with the report command (issue "See a run")
        result = shell(command, tmp_path)
        assert result.returncode == 0, f"{what}: {command}\n{result.stdout}{result.stderr}"
    for name in ("run.xml", "compare.xml"):
        validate_junit(tmp_path / "reports" / name)
    comment = (tmp_path / "reports" / "compare.md").read_text()
    assert comment.startswith("### ✅ simba compare: equal within tolerance")
    if report:
        assert (tmp_path / "reports" / "report.html").is_file()

    schedule = tmp_path / "scenarios" / "epidemic" / "schedule.json"
    schedule.write_text(schedule.read_text().replace('"gamma": 0.1', '"gamma": 0.12'))
    shutil.rmtree(tmp_path / "runs" / "ci")
    failed = None
    for what, command in recipe_commands()[system]:
        if not command.startswith("simba report") and shell(command, tmp_path).returncode:
            failed = what, command
            break
    assert failed is not None and "simba compare" in failed[1]
    assert "sir:gamma" in (tmp_path / "reports" / "compare.md").read_text()
