"""simba module new: a scaffold that validates, runs, packs and passes its own test."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from simba.packages.descriptor import parse_descriptor

Cli = Callable[..., subprocess.CompletedProcess[str]]


@pytest.mark.parametrize("lang", ["python", "sh"])
def test_scaffold_validates_runs_and_packs(tmp_path: Path, simba_cli: Cli, lang: str) -> None:
    """The scaffold passes validate, runs its sample scenario and packs, out of the box."""
    created = simba_cli("module", "new", "lab/counter", "--lang", lang)
    assert created.returncode == 0, created.stderr
    module = tmp_path / "counter"
    source = "module.py" if lang == "python" else "module.sh"
    files = sorted(str(p.relative_to(module)) for p in module.rglob("*") if p.is_file())
    assert files == sorted(
        ["README.md", "descriptor.json", source, "scenario.json", "tests/test_module.py"]
    )
    assert stat.S_IMODE((module / source).stat().st_mode) == 0o755
    descriptor = parse_descriptor(
        json.loads((module / "descriptor.json").read_text()), file="descriptor.json"
    )
    assert descriptor.ident == "lab/counter@0.1.0"
    validated = simba_cli("validate", module / "scenario.json")
    assert validated.returncode == 0, validated.stderr
    run = simba_cli("run", module / "scenario.json", "--run-id", "r", "--json")
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["outcome"] == "success"
    log = tmp_path / "runs" / "r" / "modules" / "counter" / "log" / "steps.log"
    assert log.read_text().splitlines() == ["0 -> 1", "1 -> 2", "2 -> 3"]
    packed = simba_cli("module", "pack", module)
    assert packed.returncode == 0, packed.stderr
    assert (tmp_path / "lab-counter-0.1.0.zip").is_file()


def test_scaffold_own_test_passes(tmp_path: Path, simba_cli: Cli) -> None:
    """The test that comes with the scaffold passes when pytest runs it."""
    assert simba_cli("module", "new", "greeter").returncode == 0
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=tmp_path / "greeter",
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout
    descriptor = json.loads((tmp_path / "greeter" / "descriptor.json").read_text())
    assert descriptor["namespace"] == "local"


def test_scaffold_refuses_existing_directory(tmp_path: Path, simba_cli: Cli) -> None:
    """module new does not write into a non-empty directory (exit 2)."""
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "keep.txt").write_text("mine")
    result = simba_cli("module", "new", "taken")
    assert result.returncode == 2
    assert "already exists" in result.stderr
    assert [p.name for p in (tmp_path / "taken").iterdir()] == ["keep.txt"]


@pytest.mark.parametrize("name", ["../up", "a/b/c", ".hidden", "bad name", "ns/"])
def test_scaffold_refuses_bad_names(tmp_path: Path, simba_cli: Cli, name: str) -> None:
    """A name that is not [namespace/]name with safe characters is refused (exit 2)."""
    result = simba_cli("module", "new", name)
    assert result.returncode == 2
    assert "letters, digits" in result.stderr
    assert list(tmp_path.iterdir()) == []
