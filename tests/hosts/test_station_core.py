"""``simba run --api`` under Station Core's own module code (issue 14).

The fixture installs the pinned ``@filecoin-station/core`` with ``npm install
--ignore-scripts`` (nothing of the package runs at install time) into a cache directory
(``$SIMBA_HOSTS_CACHE``, default ``~/.cache/simba-tests``) once; ``.ci/run`` installs it
ahead.  Without Node or npm, or without the registry, the tests skip and say why.

``station_core.mjs`` runs Core 17.0.1's unmodified ``lib/bacalhau.js`` inside Core's own
p-retry loop, with SIMBA as the module binary; these tests read what Core hands its
activity log and its metrics, kill SIMBA as a crash or a host would, and look for what
is left on the machine.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import MODULES, process_gone, run_processes

HARNESS = Path(__file__).with_name("station_core.mjs")
SIMBA = str(Path(sys.executable).parent / "simba")
SCRIPTED = str(MODULES / "scripted.py")
#: What Core finds where it installed its Bacalhau binary: SIMBA, given by the test.
WRAPPER = (
    "#!/bin/sh\n# the module binary Core runs: SIMBA, as the test says\n"
    'eval "exec $SIMBA_MODULE_COMMAND"\n'
)

#: The last Station Core release whose lib/bacalhau.js runs a binary module with the
#: Station module interface (API:/INFO:/ERROR: lines, GET jobsCompleted); later releases
#: dropped Bacalhau and run only Zinnia (JavaScript) modules.
CORE_VERSION = "17.0.1"
CORE_PACKAGE = "@filecoin-station/core"


def cache_directory() -> Path:
    return Path(os.environ.get("SIMBA_HOSTS_CACHE") or Path.home() / ".cache" / "simba-tests")


def install_core(prefix: Path) -> Path:
    """Install the pinned Core under ``prefix`` (if not there yet); its package directory."""
    core = prefix / "node_modules" / "@filecoin-station" / "core"
    if (core / "lib" / "bacalhau.js").is_file():
        return core
    prefix.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["npm", "install", "--ignore-scripts", "--no-audit", "--no-fund", "--prefix",
         str(prefix), f"{CORE_PACKAGE}@{CORE_VERSION}"],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        pytest.skip(f"npm could not install {CORE_PACKAGE}@{CORE_VERSION}: {done.stderr[-500:]}")
    assert (core / "lib" / "bacalhau.js").is_file(), (
        f"{CORE_PACKAGE}@{CORE_VERSION} has no lib/bacalhau.js"
    )
    return core


@pytest.fixture(scope="session")
def station_core() -> Path:
    """The installed, unmodified Station Core package directory."""
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (.ci/run installs Debian's nodejs and npm)")
    return install_core(cache_directory() / f"station-core-{CORE_VERSION}")


class Host:
    """The harness process and the JSON records it prints (activities, metrics, restarts)."""

    def __init__(self, core: Path, storage: Path, command: list[str], env: dict[str, str]) -> None:
        wrapper = core / "modules" / "bacalhau" / "bacalhau"
        wrapper.parent.mkdir(parents=True, exist_ok=True)
        wrapper.write_text(WRAPPER)
        wrapper.chmod(0o755)
        self.records: list[dict[str, Any]] = []
        self.process = subprocess.Popen(
            ["node", str(HARNESS), str(core), str(storage)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env={**os.environ, **env, "SIMBA_MODULE_COMMAND": shlex.join(command)},
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def stop(self) -> None:
        """SIGTERM to the host, as when Station is stopped; it ends, its pipe is closed."""
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(10)
        self._reader.join(10)
        assert self.process.stdout is not None
        self.process.stdout.close()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.records.append(json.loads(line))

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [record for record in list(self.records) if record["type"] == kind]

    def totals(self) -> list[int]:
        return [record["totalJobsCompleted"] for record in self.of("metrics")]

    def messages(self, level: str) -> list[str]:
        """What Core's activity log got at ``level`` (``info`` or ``error``)."""
        return [record["message"] for record in self.of("activity") if record["level"] == level]

    def wait_for(self, condition: Callable[[], bool], timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            assert self.process.poll() is None, "the host ended"
            assert time.monotonic() < deadline, f"timed out; records: {self.records[-10:]}"
            time.sleep(0.05)

    def module_pid(self) -> int | None:
        """SIMBA's process id: the host's child (the wrapper exec'd it); None between runs."""
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                ppid = int((entry / "stat").read_text().rpartition(")")[2].split()[1])
                if ppid == self.process.pid and b"simba" in (entry / "cmdline").read_bytes():
                    return int(entry.name)
            except (OSError, IndexError, ValueError):
                continue
        return None


def scenario(tmp_path: Path, schedule: list[dict[str, Any]], days: int) -> Path:
    directory = tmp_path / "scenario"
    directory.mkdir()
    driver = {"initialTime": "2024-01-01T00:00:00", "endTime": f"P{days}D",
              "scheduleIntervals": [{"tickDuration": "P1D"}]}  # fmt: skip
    (directory / "driver.json").write_text(json.dumps(driver))
    (directory / "schedule.json").write_text(json.dumps({"schedule": schedule}))
    return directory


def test_core_restarts_simba_after_a_sigkill_and_jobs_never_go_down(
    station_core: Path, tmp_path: Path
) -> None:
    """Core 17's own loop: SIGKILL mid-run, Core restarts the same command, jobsCompleted
    never decreases and reaches the plan; the finished module keeps serving; a SIGTERM as
    the host sends it on its way out ends SIMBA within 5 s with no process of the run
    left; nothing is written under Station's STATE_ROOT."""
    modules = [
        {"name": f"m{i}", "priority": 5 - i, "command": SCRIPTED, "moduleData": {"sleep": 0.1}}
        for i in range(2)
    ]
    planned = 2 * 2 + 2 * 10
    storage = tmp_path / "bacalhau"
    station_state = tmp_path / "station-state"
    station_state.mkdir()
    command = [SIMBA, "run", "--api", str(scenario(tmp_path, modules, 10))]
    host = Host(station_core, storage, command, {"STATE_ROOT": str(station_state)})
    try:
        host.wait_for(lambda: any(total >= 6 for total in host.totals()))
        first = host.module_pid()
        assert first is not None
        os.kill(first, signal.SIGKILL)
        host.wait_for(lambda: bool(host.of("restart")) and host.module_pid() not in (None, first))
        host.wait_for(lambda: host.totals()[-1] == planned, timeout=90)
        time.sleep(3)  # finished: still there, still polled
        totals = host.totals()
        assert totals == sorted(totals), f"jobsCompleted went down: {totals}"
        assert totals[-3:] == [planned] * 3
        assert len(host.of("restart")) == 1
        module = host.module_pid()
        assert module is not None
        (run_dir,) = (path for path in storage.iterdir() if path.is_dir())
        assert "Bacalhau module started." in host.messages("info")
        assert any(m.startswith("run finished:") for m in host.messages("info"))
    finally:
        started = time.monotonic()
        host.stop()  # Core on its way out: execa's cleanup sends SIMBA SIGTERM
    while not process_gone(module):
        assert time.monotonic() - started < 5, "SIMBA outlived the host's 5 s window"
        time.sleep(0.02)
    print(f"SIMBA ended {time.monotonic() - started:.2f} s after the host's SIGTERM")
    assert run_processes(run_dir, settle=0.5) == []
    assert list(station_state.iterdir()) == []
    summary = json.loads((run_dir / ".simba" / "summary.json").read_text())
    assert (summary["outcome"], summary["calls"]) == ("success", planned)


def test_a_failing_module_s_cause_reaches_core_s_activity_log(
    station_core: Path, tmp_path: Path
) -> None:
    """The failed call's stderr is on the ERROR: line Core puts into its activity log, and
    the failed module is not restarted (it keeps serving its failure)."""
    failing = {
        "name": "model",
        "priority": 1,
        "command": SCRIPTED,
        "moduleData": {"onTick": 1, "stderr": ["KeyError: 'population'"], "exit": 3},
    }
    command = [SIMBA, "run", "--api", str(scenario(tmp_path, [failing], 3))]
    host = Host(station_core, tmp_path / "bacalhau", command, {})
    try:
        host.wait_for(lambda: any(m.startswith("run failed:") for m in host.messages("error")))
        (failed,) = (m for m in host.messages("error") if m.startswith("run failed:"))
        assert "module 'model'" in failed and "exited with code 3" in failed
        assert "KeyError: 'population'" in failed
        time.sleep(2)
        assert host.of("restart") == []
    finally:
        host.stop()
