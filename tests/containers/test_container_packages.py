"""A package whose descriptor names an image pinned by digest runs in it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from conftest import run_cli
from podman_setup import BUSYBOX, podman_fixture

from simba.packages.pack import pack
from simba.packages.store import install

FIXTURES = (podman_fixture,)
RUN = """#!/bin/sh
# Fails on the host (which has python3), succeeds in the busybox image (which has not).
[ -e /usr/bin/python3 ] && exit 7
status=$(sed -n 's/^ *"statusFile": "\\(.*\\)",$/\\1/p' "$1")
printf '{"status": "success"}\\n' > "$status"
"""


def test_a_package_runs_in_the_image_its_descriptor_pins(podman: str, tmp_path: Path) -> None:
    digest = subprocess.run(
        ["podman", "image", "inspect", "--format", "{{.Digest}}", BUSYBOX],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    image = f"{BUSYBOX.rsplit(':', 1)[0]}@{digest}"
    sources = tmp_path / "src"
    sources.mkdir()
    descriptor = {
        "namespace": "demo",
        "name": "boxed",
        "version": "1.0.0",
        "command": "run.sh",
        "image": image,
    }
    (sources / "descriptor.json").write_text(json.dumps(descriptor))
    (sources / "run.sh").write_text(RUN)
    (sources / "run.sh").chmod(0o755)
    home = tmp_path / "home"
    install(pack(sources, tmp_path).archive, home=home)
    scenario = tmp_path / "s.json"
    driver = {
        "initialTime": "2024-01-01T00:00:00",
        "endTime": "2024-01-02T00:00:00",
        "scheduleIntervals": [{"tickDuration": "P1D"}],
    }
    module = {"name": "p", "package": "demo/boxed@1", "priority": 1}
    scenario.write_text(json.dumps({"driver": driver, "schedule": [module]}))
    env = {"SIMBA_HOME": str(home)}
    done = run_cli("run", scenario, "-o", tmp_path, "--run-id", "r", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    images = json.loads((tmp_path / "r" / ".simba" / "images.json").read_text())["images"]
    assert images["p"]["image"] == image


def test_a_descriptor_image_must_be_pinned_by_digest(tmp_path: Path) -> None:
    sources = tmp_path / "src"
    sources.mkdir()
    descriptor = {
        "namespace": "demo",
        "name": "loose",
        "version": "1.0.0",
        "command": "run.sh",
        "image": BUSYBOX,
    }
    (sources / "descriptor.json").write_text(json.dumps(descriptor))
    (sources / "run.sh").write_text(RUN)
    (sources / "run.sh").chmod(0o755)
    done = run_cli("module", "pack", sources, cwd=tmp_path)
    assert done.returncode == 2
    assert "image" in done.stderr
