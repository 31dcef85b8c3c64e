"""Services: the per-run key (every service, containerised or not) and a service in a
container reached through its port published on 127.0.0.1."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from conftest import EXAMPLES, ROOT, run_cli
from podman_setup import PYTHON, podman_fixture, run_containers

FIXTURES = (podman_fixture,)
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def status(url: str, headers: dict[str, str]) -> int:
    try:
        with OPENER.open(urllib.request.Request(url, headers=headers), timeout=10) as answer:
            code: int = answer.status
            return code
    except urllib.error.HTTPError as exc:
        return exc.code


def test_the_example_service_refuses_a_request_without_the_runs_key(tmp_path: Path) -> None:
    key = tmp_path / "kv.key"
    key.write_text("s3cret")
    (tmp_path / "state").mkdir()
    environment = {
        **os.environ,
        "STATE_ROOT": str(tmp_path / "state"),
        "SIMBA_SERVICE_KEY_FILE": str(key),
        "PYTHONPATH": str(ROOT),
    }
    service = subprocess.Popen(
        [sys.executable, str(EXAMPLES / "services" / "kvstore.py")],
        env=environment,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert service.stdout is not None
        api = service.stdout.readline().split("API: ")[1].strip()
        assert status(f"{api}/", {}) == 401
        assert status(f"{api}/", {"Authorization": "Bearer wrong"}) == 401
        assert status(f"{api}/", {"Authorization": "Bearer s3cret"}) == 200
    finally:
        service.terminate()
        service.communicate(timeout=10)


def test_a_module_of_the_run_reaches_the_service_with_its_key(tmp_path: Path) -> None:
    done = run_cli("run", EXAMPLES / "services", "-o", tmp_path, "--run-id", "kv", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    config = json.loads((tmp_path / "kv" / "01" / "module_2.json").read_text())
    key_file = Path(config["services"]["kv"]["keyFile"])
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert key_file.parent.stat().st_mode & 0o777 == 0o700
    log = (tmp_path / "kv" / "modules" / "kv" / "module.log").read_text()
    assert " 204 " in log and "refused" not in log


def test_a_service_in_a_container_is_reached_through_its_published_port(
    podman: str, tmp_path: Path
) -> None:
    directory = tmp_path / "services"
    shutil.copytree(EXAMPLES / "services", directory)
    schedule = json.loads((directory / "schedule.json").read_text())
    kv = schedule["schedule"][0]
    kv.update(
        command=["python3", "kvstore.py"],
        readyTimeout=30,
        env={"PYTHONPATH": str(ROOT)},
        container={"image": PYTHON, "binds": [str(ROOT / "simba")]},
    )
    (directory / "schedule.json").write_text(json.dumps(schedule))
    done = run_cli("run", directory, "-o", tmp_path, "--run-id", "kv", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    config = json.loads((tmp_path / "kv" / "01" / "module_2.json").read_text())
    assert config["services"]["kv"]["api"].startswith("http://127.0.0.1:")
    summary = json.loads((tmp_path / "kv" / ".simba" / "summary.json").read_text())
    assert summary["services"]["kv"]["jobsCompleted"] == 28  # 14 readings, 14 means
    time.sleep(0.5)
    assert run_containers(tmp_path / "kv") == []
