"""SIMBA as a Station / Checker module: ``simba run --api`` under a host (DESIGN §9, issue 5).

The tests act as the host does: they spawn the ``simba`` console script with
``STATE_ROOT``, ``CACHE_ROOT`` and ``FIL_WALLET_ADDRESS``, read the first stdout line,
poll the API, send SIGTERM and restart with ``--resume``.  Loopback only.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from conftest import MODULES

SCRIPTED = str(MODULES / "scripted.py")
OK = str(MODULES / "ok.sh")
SERVICE = str(MODULES / "svc_service.py")
KILLER = str(MODULES / "svc_kill_driver.py")
SIMBA = str(Path(sys.executable).parent / "simba")  # the console script a host runs
#: The interface asks for the API line within 500 ms; a loaded CI machine gets some slack.
API_LINE_LIMIT = 1.5
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))

WriteScenario = Callable[..., Path]


@dataclass
class Station:
    """A ``simba run --api`` process as a host sees it: its API line, its stdout lines."""

    process: subprocess.Popen[str]
    api: str
    latency: float
    """Seconds from spawning the process to reading its first stdout line."""
    lines: list[str] = field(default_factory=list)
    reader: threading.Thread | None = None

    def status(self) -> dict[str, Any]:
        with OPENER.open(self.api + "/", timeout=20) as response:
            document: dict[str, Any] = json.load(response)
        return document

    def wait(self, timeout: float = 60) -> int:
        code = self.process.wait(timeout)
        if self.reader is not None:
            self.reader.join(10)
        if self.process.stdout is not None:
            self.process.stdout.close()
        return code


def spawn(*args: str | Path, env: dict[str, str], cwd: Path, stderr: Path) -> Station:
    """Start ``simba run --api ARGS`` and read its first stdout line (which must be the API)."""
    started = time.monotonic()
    with stderr.open("ab") as err:
        process = subprocess.Popen(
            [SIMBA, "run", *map(str, args)],
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            cwd=cwd,
            env={**os.environ, **env},
        )
    assert process.stdout is not None
    first = process.stdout.readline()
    latency = time.monotonic() - started
    match = re.fullmatch(r"API: (http://127\.0\.0\.1:\d+)\n", first)
    assert match, f"first stdout line {first!r}; stderr: {stderr.read_text()}"
    station = Station(process=process, api=match[1], latency=latency)

    def read_rest() -> None:  # keep the pipe drained, as a host does
        assert process.stdout is not None
        station.lines.extend(line.rstrip("\n") for line in process.stdout)

    station.reader = threading.Thread(target=read_rest, daemon=True)
    station.reader.start()
    return station


@pytest.fixture
def host_env(tmp_path: Path) -> dict[str, str]:
    """What a Station host gives its modules: STATE_ROOT, CACHE_ROOT, FIL_WALLET_ADDRESS."""
    (tmp_path / "state").mkdir(mode=0o700)
    (tmp_path / "cache").mkdir(mode=0o700)
    return {
        "STATE_ROOT": str(tmp_path / "state"),
        "CACHE_ROOT": str(tmp_path / "cache"),
        "FIL_WALLET_ADDRESS": "f1hosttestwalletaddress",
    }


def steps(count: int, sleep: float) -> list[dict[str, Any]]:
    """``count`` modules that sleep ``sleep`` seconds per call."""
    return [
        {"name": f"m{i}", "priority": 10 - i, "command": SCRIPTED, "moduleData": {"sleep": sleep}}
        for i in range(count)
    ]


def driver(days: int) -> dict[str, Any]:
    return {
        "initialTime": "2024-01-01T00:00:00",
        "endTime": f"P{days}D",
        "scheduleIntervals": [{"tickDuration": "P1D"}],
    }


def assert_station_output(lines: list[str]) -> None:
    """After the API line, stdout holds only INFO:/ERROR: lines."""
    assert lines, "no output after the API line"
    assert all(line.startswith(("INFO: ", "ERROR: ")) for line in lines), lines


# -- the host harness --------------------------------------------------------------------


def test_station_host_polls_stops_and_resumes_without_losing_jobs(
    write_scenario: WriteScenario, tmp_path: Path, host_env: dict[str, str]
) -> None:
    """API line in time, jobsCompleted polled every second never decreases across SIGTERM and
    --resume, and the resumed run completes every call."""
    scenario = write_scenario(steps(3, 0.12), driver(12))
    planned = 3 * 2 + 3 * 12
    first = spawn("--api", scenario, "--run-id", "station", env=host_env, cwd=tmp_path,
                  stderr=tmp_path / "stderr.txt")  # fmt: skip
    print(f"API line after {first.latency * 1000:.0f} ms (first start)")
    assert first.latency <= API_LINE_LIMIT
    seen: list[tuple[int, int]] = []  # (driver, jobsCompleted)
    while True:
        status = first.status()
        assert set(status) == {"jobsCompleted", "tick", "finalTick", "simulatedTime", "state"}
        seen.append((1, status["jobsCompleted"]))
        if status["jobsCompleted"] >= 12:
            break
        assert first.process.poll() is None, "the run ended before the host could stop it"
        time.sleep(1)
    assert status["state"] == "running" and status["finalTick"] == 12
    first.process.send_signal(signal.SIGTERM)
    assert first.wait() == 143
    assert_station_output(first.lines)
    assert any(line.startswith("INFO: run stopped by SIGTERM") for line in first.lines)
    run_dir = Path(host_env["STATE_ROOT"]) / "station"
    assert (run_dir / ".simba" / "checkpoint.json").is_file()

    second = spawn("--api", "--resume", run_dir, env=host_env, cwd=tmp_path,
                   stderr=tmp_path / "stderr.txt")  # fmt: skip
    print(f"API line after {second.latency * 1000:.0f} ms (restart)")
    assert second.latency <= API_LINE_LIMIT
    while second.process.poll() is None:
        try:
            seen.append((2, second.status()["jobsCompleted"]))
        except (urllib.error.URLError, ConnectionError):
            break  # the run finished between poll() and the request
        time.sleep(1)
    assert second.wait() == 0, (tmp_path / "stderr.txt").read_text()
    print(f"jobsCompleted as polled: {seen}")
    counts = [jobs for _, jobs in seen]
    assert counts == sorted(counts), f"jobsCompleted went down: {seen}"
    assert any(driver == 2 for driver, _ in seen)
    assert_station_output(second.lines)
    assert f"INFO: run finished: {planned} jobs completed" in " ".join(second.lines)
    summary = json.loads((run_dir / ".simba" / "summary.json").read_text())
    assert (summary["outcome"], summary["calls"]) == ("success", planned)


def test_jobs_completed_after_kill_9_counts_every_traced_call(
    write_scenario: WriteScenario, tmp_path: Path, host_env: dict[str, str]
) -> None:
    """After kill -9 the checkpoint lags; the restarted API still reports every call that
    finished before, from the first request on."""
    flag = tmp_path / "killed"
    modules = [
        {"name": "a", "priority": 3, "command": OK},
        {"name": "b", "priority": 2, "command": OK},
        {
            "name": "killer",
            "priority": 1,
            "command": KILLER,
            "env": {"KILL_FLAG": str(flag), "KILL_TICK": "6"},
        },
    ]
    scenario = write_scenario(modules, driver(10))
    first = spawn("--api", scenario, "--run-id", "k9", env=host_env, cwd=tmp_path,
                  stderr=tmp_path / "stderr.txt")  # fmt: skip
    assert first.wait() == -signal.SIGKILL
    assert flag.exists()
    run_dir = Path(host_env["STATE_ROOT"]) / "k9"
    trace = (run_dir / ".simba" / "trace.jsonl").read_text().splitlines()
    finished = sum(json.loads(line)["outcome"] == "success" for line in trace)
    assert finished == 3 + 6 * 3 + 2  # start calls, ticks 0..5, a and b at tick 6
    checkpoint = json.loads((run_dir / ".simba" / "checkpoint.json").read_text())
    assert checkpoint["callsDone"] < finished  # the lag this test is about

    second = spawn("--api", "--resume", run_dir, env=host_env, cwd=tmp_path,
                   stderr=tmp_path / "stderr.txt")  # fmt: skip
    assert second.status()["jobsCompleted"] == finished
    assert second.wait() == 0, (tmp_path / "stderr.txt").read_text()
    assert "INFO: run finished: 36 jobs completed" in " ".join(second.lines)


# -- the API and the output ----------------------------------------------------------------


def test_api_is_read_only_json(
    write_scenario: WriteScenario, tmp_path: Path, host_env: dict[str, str]
) -> None:
    """GET / answers the status; other paths are 404 and other methods 405."""
    scenario = write_scenario(steps(1, 0.5), driver(3))
    station = spawn(scenario, "--api", env=host_env, cwd=tmp_path, stderr=tmp_path / "err")
    status = station.status()
    assert status["state"] in ("running", "finished")
    assert status["finalTick"] == 3
    assert isinstance(status["jobsCompleted"], int)
    assert status["simulatedTime"].startswith("2024-01-0")
    with pytest.raises(urllib.error.HTTPError) as missing:
        OPENER.open(station.api + "/secrets", timeout=10)
    missing.value.close()
    assert missing.value.code == 404
    with pytest.raises(urllib.error.HTTPError) as refused:
        OPENER.open(urllib.request.Request(station.api + "/", data=b"{}", method="POST"))
    refused.value.close()
    assert refused.value.code == 405
    assert station.wait() == 0
    assert "INFO: run finished: 5 jobs completed" in " ".join(station.lines)


def test_api_binds_the_address_asked_for(
    write_scenario: WriteScenario, tmp_path: Path, host_env: dict[str, str]
) -> None:
    """--api HOST:PORT binds exactly there (the scenario may follow it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    scenario = write_scenario(steps(1, 0.0), driver(2))
    station = spawn("--api", f"127.0.0.1:{port}", scenario, env=host_env, cwd=tmp_path,
                    stderr=tmp_path / "err")  # fmt: skip
    assert station.api == f"http://127.0.0.1:{port}"
    assert station.wait() == 0


def test_failures_are_error_lines(
    write_scenario: WriteScenario, tmp_path: Path, host_env: dict[str, str]
) -> None:
    """A failing call and the failed run are ERROR: lines; modules' INFO/ERROR lines pass on."""
    failing = {
        "name": "model",
        "priority": 1,
        "command": SCRIPTED,
        "moduleData": {"onTick": 1, "stdout": ["INFO: diverging", "ERROR: NaN"], "exit": 4},
    }
    scenario = write_scenario([failing], driver(3))
    station = spawn("--api", scenario, env=host_env, cwd=tmp_path, stderr=tmp_path / "err")
    assert station.wait() == 1
    assert_station_output(station.lines)
    assert "INFO: [model] diverging" in station.lines
    assert "ERROR: [model] NaN" in station.lines
    assert any(
        line.startswith("ERROR: module model step at tick 1 failed (attempt 1):")
        for line in station.lines
    )
    assert station.lines[-1].startswith("ERROR: run failed: module 'model' (step at tick 1)")
    assert "exited with code 4" in (tmp_path / "err").read_text()  # diagnostics on stderr


def test_bad_scenario_is_an_error_line_after_the_api_line(
    tmp_path: Path, host_env: dict[str, str]
) -> None:
    """A scenario that cannot load still gets the API line first, then one ERROR: line."""
    station = spawn("--api", tmp_path / "missing", env=host_env, cwd=tmp_path,
                    stderr=tmp_path / "err")  # fmt: skip
    assert station.wait() == 2
    assert station.lines == ["ERROR: the scenario has 1 problem; fix them and run again:"]


@pytest.mark.parametrize("root", ["STATE_ROOT", "ROOT_DIR"])
def test_state_root_is_the_output_base_and_cache_root_holds_caches(
    write_scenario: WriteScenario, tmp_path: Path, host_env: dict[str, str], root: str
) -> None:
    """Without outputDirectory, runs go under STATE_ROOT (or ROOT_DIR) and the services'
    caches under CACHE_ROOT; FIL_WALLET_ADDRESS reaches the modules."""
    env = dict(host_env)
    if root == "ROOT_DIR":
        env["ROOT_DIR"] = env.pop("STATE_ROOT")
    service = {"name": "svc", "type": "service", "priority": 9, "command": SERVICE,
               "readyTimeout": 5}  # fmt: skip
    scenario = write_scenario([service, *steps(1, 0.0)], driver(2))
    station = spawn("--api", scenario, "--run-id", "here", env=env, cwd=tmp_path,
                    stderr=tmp_path / "err")  # fmt: skip
    assert station.wait() == 0, (tmp_path / "err").read_text()
    run_dir = tmp_path / "state" / "here"
    assert (run_dir / ".simba" / "summary.json").is_file()
    assert not (tmp_path / "runs").exists()
    start = json.loads((run_dir / "modules/svc/state/start.json").read_text())
    cache = Path(start["directories"]["CACHE_ROOT"]["path"])
    assert cache.is_relative_to(tmp_path / "cache") and cache.name == "svc"
    assert start["env"]["FIL_WALLET_ADDRESS"] == "f1hosttestwalletaddress"


def test_scenario_output_directory_wins_over_state_root(
    write_scenario: WriteScenario, tmp_path: Path, host_env: dict[str, str]
) -> None:
    """A scenario that names outputDirectory keeps it under --api."""
    scenario = write_scenario(steps(1, 0.0), {**driver(2), "outputDirectory": "mine"})
    station = spawn("--api", scenario, "--run-id", "r", env=host_env, cwd=tmp_path,
                    stderr=tmp_path / "err")  # fmt: skip
    assert station.wait() == 0
    assert (tmp_path / "mine" / "r" / ".simba" / "summary.json").is_file()
    assert not (tmp_path / "state" / "r").exists()
