"""Signals, and the engines other than Podman where this machine has them."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import MODULES, launch, run_cli
from podman_setup import BUSYBOX, HERE, podman_fixture, run_containers

FIXTURES = (podman_fixture,)


def write(directory: Path, command: str | list[str], container: dict[str, object]) -> Path:
    directory.mkdir()
    shutil.copy(MODULES / "ok.sh", directory)
    (directory / "driver.json").write_text(
        '{"initialTime": "2024-01-01T00:00:00", "endTime": "2024-01-03T00:00:00", '
        '"scheduleIntervals": [{"tickDuration": "P1D"}], "outputDirectory": "runs", '
        '"runId": "r"}'
    )
    module = {"name": "m", "command": command, "priority": 1, "container": container}
    (directory / "schedule.json").write_text(json.dumps({"schedule": [module]}))
    return directory


def test_sigterm_stops_the_container_through_the_engine(podman: str, tmp_path: Path) -> None:
    # sh -c: the config path that follows becomes $0 (a bare `sleep 120 PATH` fails at once)
    directory = write(tmp_path / "s", ["sh", "-c", "sleep 120"], {"image": BUSYBOX})
    run_dir = directory / "runs" / "r"
    driver = launch("run", directory, cwd=directory)
    deadline = time.monotonic() + 30
    while not run_containers(run_dir):
        if driver.poll() is not None or time.monotonic() > deadline:
            driver.kill()
            _, err = driver.communicate()  # closes its pipes, and says why
            pytest.fail(f"no container of the run appeared (exit {driver.returncode}): {err}")
        time.sleep(0.1)
    driver.send_signal(signal.SIGTERM)
    driver.communicate(timeout=60)
    assert driver.returncode == 143
    assert run_containers(run_dir) == []


def docker_reason() -> str | None:
    if shutil.which("docker") is None:
        return "Docker is not installed on this machine"
    info = subprocess.run(["docker", "info"], capture_output=True, text=True, check=False)
    if info.returncode != 0:
        return f"Docker's daemon is not reachable here ({info.stderr.strip()[:120]})"
    return None


@pytest.mark.skipif(docker_reason() is not None, reason=str(docker_reason()))
def test_a_call_in_docker_writes_files_of_the_invoking_user(tmp_path: Path) -> None:
    subprocess.run(["bash", str(HERE / "images.sh"), "docker"], check=True)
    directory = write(tmp_path / "s", "./ok.sh", {"image": BUSYBOX, "engine": "docker"})
    done = run_cli("run", directory, cwd=directory)
    assert done.returncode == 0, done.stderr
    run_dir = directory / "runs" / "r"
    assert {path.lstat().st_uid for path in run_dir.rglob("*")} == {os.getuid()}


@pytest.mark.parametrize("engine", ["apptainer", "singularity"])
def test_a_call_in_apptainer(engine: str, podman: str, tmp_path: Path) -> None:
    if shutil.which(engine) is None:
        pytest.skip(
            f"{engine} is not installed on this machine (Debian has no package for it); its "
            "command line is checked in test_container_argv.py against its documented one"
        )
    archive, image = tmp_path / "busybox.tar", tmp_path / "busybox.sif"
    saved = ["podman", "save", "--format", "docker-archive", "-o", str(archive), BUSYBOX]
    subprocess.run(saved, check=True, capture_output=True)
    command = [engine, "build", str(image), f"docker-archive://{archive}"]
    built = subprocess.run(command, capture_output=True, check=False)
    if built.returncode != 0:
        pytest.skip(f"{engine} could not build a SIF from the local test image here")
    directory = write(tmp_path / "s", "./ok.sh", {"image": str(image), "engine": engine})
    done = run_cli("run", directory, cwd=directory)
    assert done.returncode == 0, done.stderr
