"""A ``parsl`` module in a container: the Parsl worker runs the engine's command line."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable
from importlib.util import find_spec
from pathlib import Path

import pytest
from conftest import run_cli
from podman_setup import BUSYBOX, podman_fixture, run_containers, scenario_fixture

FIXTURES = (podman_fixture, scenario_fixture)  # pytest finds them here

pytestmark = pytest.mark.skipif(
    find_spec("parsl") is None, reason="Parsl is not installed (pip install 'simba-cosim[parsl]')"
)


INSIDE = """#!/bin/sh
status=$(sed -n 's/^ *"statusFile": "\\(.*\\)",$/\\1/p' "$1")
users=$(wc -l < /etc/passwd)
printf '{"status": "success", "moduleData": {"passwdLines": %s}}\\n' $users > "$status"
"""


def test_parsl_calls_run_in_the_container_on_the_worker(
    podman: str, scenario: Callable[..., Path]
) -> None:
    """Each call of a type-parsl module runs in the pinned image on a local Parsl worker;
    its files belong to the invoking user and no container is left behind."""
    directory = scenario([])
    script = directory / "inside.sh"  # says how many users the /etc/passwd it sees has
    script.write_text(INSIDE)
    script.chmod(0o755)
    module = {
        "name": "ok",
        "command": "./inside.sh",
        "priority": 1,
        "type": "parsl",
        "executor": {"type": "HighThroughputExecutor", "max_workers": 1},
        "container": {"image": BUSYBOX},
    }
    directory = scenario([module])
    done = run_cli("run", directory, cwd=directory)
    assert done.returncode == 0, done.stderr
    run_dir = directory / "runs" / "r"
    status = json.loads((run_dir / "3" / "status_1.json").read_text())
    assert status["moduleData"] == {"passwdLines": 1}  # the image's, not this host's
    assert len(Path("/etc/passwd").read_text().splitlines()) > 1
    assert {path.lstat().st_uid for path in run_dir.rglob("*")} == {os.getuid()}
    images = json.loads((run_dir / ".simba" / "images.json").read_text())["images"]
    with sqlite3.connect(run_dir / ".simba" / "run.db") as db:
        (image,) = db.execute("SELECT image FROM modules WHERE module = 'ok'").fetchone()
        runners = {r for (r,) in db.execute("SELECT DISTINCT runner FROM attempts")}
    assert image == images["ok"]["digest"] and runners == {"parsl"}
    assert run_containers(run_dir) == []
