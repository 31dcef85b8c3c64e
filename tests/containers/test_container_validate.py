"""simba validate checks a container before any run: engine, binds and image."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from conftest import run_cli
from podman_setup import BUSYBOX, podman_fixture

FIXTURES = (podman_fixture,)


def write(directory: Path, container: dict[str, object]) -> Path:
    directory.mkdir()
    (directory / "driver.json").write_text(
        '{"initialTime": "2024-01-01T00:00:00", "endTime": "2024-01-02T00:00:00", '
        '"scheduleIntervals": [{"tickDuration": "P1D"}]}'
    )
    module = {"name": "m", "command": "sh", "priority": 1, "container": container}
    (directory / "schedule.json").write_text(json.dumps({"schedule": [module]}))
    return directory


def test_a_missing_bind_and_image_are_reported(podman: str, tmp_path: Path) -> None:
    container = {"image": "localhost/simba-test/absent:1", "binds": ["nowhere"]}
    done = run_cli("validate", write(tmp_path / "s", container), cwd=tmp_path)
    assert done.returncode == 2
    assert "schedule[0].container.binds[0]" in done.stderr and "does not exist" in done.stderr
    assert "schedule[0].container.image" in done.stderr and "pull" in done.stderr


def test_a_good_container_validates(podman: str, tmp_path: Path) -> None:
    done = run_cli("validate", write(tmp_path / "s", {"image": BUSYBOX}), cwd=tmp_path)
    assert done.returncode == 0, done.stderr


def test_an_engine_not_installed_is_reported(tmp_path: Path) -> None:
    engine = next(e for e in ("apptainer", "singularity", "docker") if not shutil.which(e))
    scenario = write(tmp_path / "s", {"image": "x", "engine": engine})
    done = run_cli("validate", scenario, cwd=tmp_path)
    assert done.returncode == 2
    assert f"{engine} is not on PATH" in done.stderr
