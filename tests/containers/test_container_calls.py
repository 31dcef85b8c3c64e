"""Modules run per call, resident and after failures in real Podman containers."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from conftest import MODULES, ROOT, launch, run_cli, wait_for
from podman_setup import BUSYBOX, PYTHON, podman_fixture, run_containers, scenario_fixture

FIXTURES = (podman_fixture, scenario_fixture)  # pytest finds them here


def owners(directory: Path) -> set[int]:
    return {path.lstat().st_uid for path in directory.rglob("*")}


def test_sh_module_per_call_writes_files_of_the_invoking_user(
    podman: str, scenario: Callable[..., Path]
) -> None:
    directory = scenario([])
    shutil.copy(MODULES / "ok.sh", directory)
    directory = scenario(
        [{"name": "ok", "command": "./ok.sh", "priority": 1, "container": {"image": BUSYBOX}}]
    )
    done = run_cli("run", directory, cwd=directory)
    assert done.returncode == 0, done.stderr
    run_dir = directory / "runs" / "r"
    assert (run_dir / "3" / "status_1.json").exists()
    assert owners(run_dir) == {os.getuid()}
    images = json.loads((run_dir / ".simba" / "images.json").read_text())["images"]
    assert images["ok"]["digest"].startswith("sha256:")
    with sqlite3.connect(run_dir / ".simba" / "run.db") as db:  # every call's record names it
        (image,) = db.execute("SELECT image FROM modules WHERE module = 'ok'").fetchone()
    assert image == images["ok"]["digest"]
    assert run_containers(run_dir) == []


def test_sdk_module_per_call_in_a_python_image(podman: str, scenario: Callable[..., Path]) -> None:
    directory = scenario([])
    shutil.copy(MODULES / "sdk_counter.py", directory)
    container = {"image": PYTHON, "binds": [str(ROOT / "simba")]}
    directory = scenario(
        [
            {
                "name": "sdk",
                "command": ["python3", "sdk_counter.py"],
                "priority": 1,
                "updateCommonData": True,
                "env": {"PYTHONPATH": str(ROOT)},
                "moduleData": {"log": str(directory / "sdk.log")},
                "container": container,
            }
        ]
    )
    schedule = json.loads((directory / "schedule.json").read_text())
    schedule["commonData"] = {"total": 0}
    (directory / "schedule.json").write_text(json.dumps(schedule))
    done = run_cli("run", directory, cwd=directory)
    assert done.returncode == 0, done.stderr
    summary = json.loads((directory / "runs" / "r" / ".simba" / "summary.json").read_text())
    assert summary["commonData"]["total"] == 3


def test_resident_module_starts_one_container_per_run(
    podman: str, scenario: Callable[..., Path]
) -> None:
    directory = scenario([])
    shutil.copy(MODULES / "res_counter.sh", directory)
    log = directory / "res.log"
    directory = scenario(
        [
            {
                "name": "res",
                "type": "resident",
                "command": "./res_counter.sh",
                "priority": 1,
                "env": {"RES_LOG": str(log)},
                "container": {"image": BUSYBOX},
            }
        ]
    )
    done = run_cli("run", directory, cwd=directory)
    assert done.returncode == 0, done.stderr
    lines = log.read_text().splitlines()
    assert len(lines) == 6  # five calls, then one end of stdin: one process served them all
    assert sum(line.endswith(" eof") for line in lines) == 1
    assert run_containers(directory / "runs" / "r") == []


def test_a_timeout_leaves_no_container(podman: str, scenario: Callable[..., Path]) -> None:
    directory = scenario(
        [
            {
                "name": "slow",
                "command": "sleep 60",
                "priority": 1,
                "timeout": 1,
                "container": {"image": BUSYBOX},
            }
        ]
    )
    started = time.monotonic()
    done = run_cli("run", directory, cwd=directory)
    assert done.returncode == 1
    assert "timeout" in done.stderr.lower() or "timed out" in done.stderr.lower()
    assert time.monotonic() - started < 30
    assert run_containers(directory / "runs" / "r") == []


def test_sigkill_of_the_driver_then_resume_leaves_no_container(
    podman: str, scenario: Callable[..., Path]
) -> None:
    directory = scenario([])
    flag = directory / "slow"
    flag.touch()
    script = directory / "step.sh"
    script.write_text(f'#!/bin/sh\n[ -e {flag} ] && sleep 120\nexec {directory}/ok.sh "$1"\n')
    script.chmod(0o755)
    shutil.copy(MODULES / "ok.sh", directory)
    directory = scenario(
        [{"name": "m", "command": "./step.sh", "priority": 1, "container": {"image": BUSYBOX}}]
    )
    run_dir = directory / "runs" / "r"
    driver = launch("run", directory, cwd=directory)
    wait_for(run_dir / ".simba" / "checkpoint.json", driver)
    deadline = time.monotonic() + 30
    while not run_containers(run_dir):
        assert time.monotonic() < deadline, "no container started"
        time.sleep(0.1)
    driver.send_signal(signal.SIGKILL)
    driver.communicate(timeout=30)
    flag.unlink()
    done = run_cli("run", "--resume", run_dir, cwd=directory)
    assert done.returncode == 0, done.stderr
    assert run_containers(run_dir) == []


def test_a_changed_image_digest_refuses_resume(podman: str, scenario: Callable[..., Path]) -> None:
    image = "localhost/simba-test/moving:1"
    subprocess.run(["podman", "tag", BUSYBOX, image], check=True)
    directory = scenario([])
    script = directory / "fail_once.sh"
    script.write_text(
        f"#!/bin/sh\nif [ ! -e {directory}/failed ]; then : > {directory}/failed; exit 3; fi\n"
        f'exec {directory}/ok.sh "$1"\n'
    )
    script.chmod(0o755)
    shutil.copy(MODULES / "ok.sh", directory)
    directory = scenario(
        [{"name": "m", "command": "./fail_once.sh", "priority": 1, "container": {"image": image}}]
    )
    run_dir = directory / "runs" / "r"
    try:
        assert run_cli("run", directory, cwd=directory).returncode == 1
        subprocess.run(["podman", "tag", PYTHON, image], check=True)
        done = run_cli("run", "--resume", run_dir, cwd=directory)
        assert done.returncode == 2, done.stderr
        assert "image changed" in done.stderr and "m" in done.stderr
        subprocess.run(["podman", "tag", BUSYBOX, image], check=True)
        done = run_cli("run", "--resume", run_dir, cwd=directory)
        assert done.returncode == 0, done.stderr
    finally:
        subprocess.run(["podman", "rmi", image], check=False, capture_output=True)
