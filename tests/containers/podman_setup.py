"""Real containers: Podman with the local test images of images.sh (no registry)."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
BUSYBOX = "localhost/simba-test/busybox:1"
PYTHON = "localhost/simba-test/python:1"
DRIVER: dict[str, Any] = {
    "initialTime": "2024-01-01T00:00:00",
    "endTime": "2024-01-04T00:00:00",
    "scheduleIntervals": [{"tickDuration": "P1D"}],
    "outputDirectory": "runs",
    "runId": "r",
}


def podman_reason() -> str | None:
    """Why the Podman tests cannot run here, or None."""
    if shutil.which("podman") is None:
        return "Podman is not installed (.ci/run installs it from Debian as root)"
    return None


@pytest.fixture(scope="session", name="podman")
def podman_fixture() -> str:
    """Podman, with the test images built (skips with the reason if it cannot run)."""
    reason = podman_reason()
    if reason is not None:
        pytest.skip(reason)
    subprocess.run(["bash", str(HERE / "images.sh"), "podman"], check=True, capture_output=True)
    return "podman"


def run_containers(run_dir: Path) -> list[str]:
    """The containers (running or not) labelled with ``run_dir``."""
    done = subprocess.run(
        ["podman", "ps", "--all", "--quiet", "--filter", f"label=simba.run={run_dir}"],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.split()


@pytest.fixture(name="scenario")
def scenario_fixture(tmp_path: Path) -> Callable[..., Path]:
    """A scenario directory with ``modules`` as its schedule (and the driver above)."""

    def write(modules: list[dict[str, Any]], **driver: Any) -> Path:
        directory = tmp_path / "scenario"
        directory.mkdir(exist_ok=True)
        tmp_path.chmod(0o755)
        (directory / "driver.json").write_text(json.dumps({**DRIVER, **driver}))
        (directory / "schedule.json").write_text(json.dumps({"schedule": modules}))
        return directory

    return write
