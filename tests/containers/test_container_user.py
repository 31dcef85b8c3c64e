"""Files a containerised module writes belong to the user who runs SIMBA: an ordinary
user (rootless Podman, its user id kept), checked by switching to one with runuser."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import MODULES, ROOT
from podman_setup import BUSYBOX, HERE, podman_fixture

FIXTURES = (podman_fixture,)
USER = "simbact"
DEBIAN_PYTHON = Path("/usr/bin/python3")


def ordinary_user() -> tuple[int, int]:
    """The test user's uid and gid (made with subordinate ids for rootless Podman)."""
    if os.geteuid() != 0:
        pytest.skip("switching to an ordinary user needs root (this test runs as one)")
    if shutil.which("runuser") is None or shutil.which("newuidmap") is None:
        pytest.skip("runuser or newuidmap (Debian's uidmap) is missing")
    if subprocess.run(["id", USER], capture_output=True, check=False).returncode != 0:
        subprocess.run(["useradd", "--create-home", USER], check=True)
    ids = subprocess.run(["id", "-u", USER], capture_output=True, text=True, check=True)
    gid = subprocess.run(["id", "-g", USER], capture_output=True, text=True, check=True)
    return int(ids.stdout), int(gid.stdout)


def as_user(uid: int, *argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    runtime = Path(f"/tmp/simba-xdg-{uid}")
    runtime.mkdir(mode=0o700, exist_ok=True)
    os.chown(runtime, uid, -1)
    packages = sysconfig.get_paths()["purelib"]
    environment = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": f"/home/{USER}",
        "XDG_RUNTIME_DIR": str(runtime),
        "PYTHONPATH": f"{ROOT}:{packages}",
    }
    return subprocess.run(
        ["runuser", "-u", USER, "--", "env", *(f"{k}={v}" for k, v in environment.items()), *argv],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture(name="user_dir")
def user_dir_fixture() -> Iterator[Path]:
    """A directory outside pytest's (which only root may enter)."""
    with tempfile.TemporaryDirectory(prefix="simba-user-") as name:
        yield Path(name)


def test_files_belong_to_an_ordinary_user(podman: str, user_dir: Path) -> None:
    tmp_path = user_dir
    uid, gid = ordinary_user()
    version = subprocess.run(
        [str(DEBIAN_PYTHON), "-c", "import sys; print(sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    if version != str(sys.version_info[:2]):
        pytest.skip(f"{DEBIAN_PYTHON} is Python {version}, not this venv's: cannot share it")
    directory = tmp_path / "scenario"
    directory.mkdir()
    shutil.copy(MODULES / "ok.sh", directory)
    (directory / "driver.json").write_text(
        '{"initialTime": "2024-01-01T00:00:00", "endTime": "2024-01-03T00:00:00", '
        '"scheduleIntervals": [{"tickDuration": "P1D"}], "outputDirectory": "runs"}'
    )
    (directory / "schedule.json").write_text(
        '{"schedule": [{"name": "ok", "command": "./ok.sh", "priority": 1, '
        f'"container": {{"engine": "podman", "image": "{BUSYBOX}"}}}}]}}'
    )
    for path in (tmp_path, directory, *directory.iterdir()):
        os.chown(path, uid, gid)
    built = as_user(uid, "bash", str(HERE / "images.sh"), "podman", cwd=directory)
    assert built.returncode == 0, built.stderr
    done = as_user(uid, str(DEBIAN_PYTHON), "-m", "simba", "run", ".", cwd=directory)
    assert done.returncode == 0, done.stderr
    written = list((directory / "runs").rglob("status_*.json"))
    assert written
    assert {path.stat().st_uid for path in (directory / "runs").rglob("*")} == {uid}
