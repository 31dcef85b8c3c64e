"""The suite passes where the reference driver's files are absent (a clone anywhere).

The reference's original files (``SIMBA_REFERENCE``, else ``shared/reference`` beside the
checkout) are only on this project's own machines.  Tests that read them skip, each with
its reason, and the project's own fixtures (``tests/compat/scenarios``, in the same
layout) run in their place.  ``.ci/run`` also runs these parts in a fresh clone with no
``../shared`` beside it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from conftest import OWN_EXAMPLES, ROOT, TESTS

#: The test files with tests of reference-format examples.
FILES = (
    "tests/scenario/test_compatibility.py",
    "tests/scenario/test_scenario.py",
    "tests/scenario/test_timeline.py",
    "tests/runners/test_runner_parsl.py",
)


def test_only_conftest_reads_the_reference_folder() -> None:
    """Every test reaches the reference's files through conftest's skipping markers."""
    readers = sorted(
        str(path.relative_to(ROOT))
        for path in TESTS.rglob("*.py")
        if re.search(r"\bREFERENCE\b|shared/reference|/ \"shared\"", path.read_text())
        and path.name != "conftest.py"
        and path != Path(__file__)
    )
    assert readers == []


def test_own_fixtures_have_the_reference_layout() -> None:
    """Our examples: local/ and slurm/ scenarios, the program they run, three config documents."""
    files = sorted(str(p.relative_to(OWN_EXAMPLES)) for p in OWN_EXAMPLES.rglob("*.*"))
    assert files == [
        "bin/application.sh",
        "local/driver.json",
        "local/schedule.json",
        "modules/moduleEnd.json",
        "modules/moduleStart.json",
        "modules/moduleStep.json",
        "slurm/driver.json",
        "slurm/schedule.json",
    ]


def test_reference_tests_pass_without_the_reference(tmp_path: Path) -> None:
    """With the reference's folder absent, its tests skip with the reason and ours pass."""
    selection = "reference and not parsl_example and not parsl_files and not worker_process"
    pytest = [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider"]
    result = subprocess.run(
        [*pytest, "-k", selection, *FILES],
        cwd=ROOT,
        env={**os.environ, "SIMBA_REFERENCE": str(tmp_path / "absent")},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    skipped = [line for line in result.stdout.splitlines() if line.startswith("SKIPPED")]
    assert skipped, result.stdout
    assert all("the reference simbaDriver's files are not at" in line for line in skipped)
    # Each skipped test of the reference's files has its twin on our own fixtures.
    found = re.findall(r"(\d+) (passed|skipped)", result.stdout)
    counts = {word: int(number) for number, word in found}
    assert counts["passed"] == counts["skipped"] >= 6, result.stdout
