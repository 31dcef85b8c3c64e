"""SIMBA as a Station / Checker module: ``simba run --api`` under a host (DESIGN §9, issues 5, 14).

The tests act as the hosts do: they spawn the ``simba`` console script with
``STATE_ROOT``, ``CACHE_ROOT`` and ``FIL_WALLET_ADDRESS``, read the first stdout line,
poll the API, send SIGTERM (SIGKILL 5 s later) and restart the same command.
Loopback only.  ``tests/hosts/`` runs the same life cycle under Station Core's own code.
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
from conftest import MODULES, run_processes

SCRIPTED = str(MODULES / "scripted.py")
OK = str(MODULES / "ok.sh")
SERVICE = str(MODULES / "svc_service.py")
KILLER = str(MODULES / "svc_kill_driver.py")
TRAP = str(MODULES / "trap_term.sh")
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

    def status(self, path: str = "/") -> dict[str, Any]:
        with OPENER.open(self.api + path, timeout=20) as response:
            document: dict[str, Any] = json.load(response)
        return document

    def wait_ended(self, timeout: float = 60) -> dict[str, Any]:
        """Poll until the run has ended (SIMBA goes on serving); the final status."""
        deadline = time.monotonic() + timeout
        while True:
            assert self.process.poll() is None, f"simba exited ({self.process.returncode})"
            status = self.status()
            if status["state"] in ("finished", "failed"):
                return status
            assert time.monotonic() < deadline, f"the run did not end: {status}"
            time.sleep(0.1)

    def stop(self) -> float:
        """SIGTERM as a host sends it; SIMBA must end by SIGTERM; seconds it took."""
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        code = self.wait(10)
        took = time.monotonic() - started
        assert code == -signal.SIGTERM, f"ended with {code}, not by SIGTERM"
        return took

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
    match = re.fullmatch(r"API: (http://127\.0\.0\.1:\d+)/\n", first)
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


# -- the host's life cycle -------------------------------------------------------------------


def test_sigterm_then_the_same_command_resumes_and_never_loses_jobs(
    write_scenario: WriteScenario, tmp_path: Path, host_env: dict[str, str]
) -> None:
    """API line in time; SIGTERM mid-run says INFO: stopping and ends SIMBA by SIGTERM; the
    same command resumes the run; jobsCompleted never decreases and reaches the plan; the
    finished run is served until SIGTERM, and no process of the run is left."""
    scenario = write_scenario(steps(3, 0.12), driver(12))
    planned = 3 * 2 + 3 * 12
    command = ("--api", scenario, "--run-id", "station")
    err = tmp_path / "stderr.txt"
    first = spawn(*command, env=host_env, cwd=tmp_path, stderr=err)
    print(f"API line after {first.latency * 1000:.0f} ms (first start)")
    assert first.latency <= API_LINE_LIMIT
    seen: list[int] = []
    while not seen or seen[-1] < 12:
        status = first.status()
        assert set(status) == {"jobsCompleted", "tick", "finalTick", "simulatedTime", "state"}
        assert status["state"] == "running", status
        seen.append(status["jobsCompleted"])
        time.sleep(0.5)
    print(f"stopped after {first.stop():.2f} s")
    assert_station_output(first.lines)
    assert any(line.startswith("INFO: stopping (SIGTERM)") for line in first.lines)
    run_dir = Path(host_env["STATE_ROOT"]) / "station"
    assert (run_dir / ".simba" / "checkpoint.json").is_file()

    second = spawn(*command, env=host_env, cwd=tmp_path, stderr=err)
    assert second.latency <= API_LINE_LIMIT
    while (status := second.status())["state"] != "finished":
        seen.append(status["jobsCompleted"])
        time.sleep(0.3)
    seen.append(status["jobsCompleted"])
    assert seen == sorted(seen), f"jobsCompleted went down: {seen}"
    assert seen[-1] == planned
    time.sleep(1.0)
    assert second.process.poll() is None, "a finished module must not exit on its own"
    assert second.status("/stats") == status
    assert second.stop() < 5
    assert run_processes(run_dir, settle=0.5) == []
    assert_station_output(second.lines)
    assert f"INFO: run finished: {planned} jobs completed" in " ".join(second.lines)
    summary = json.loads((run_dir / ".simba" / "summary.json").read_text())
    assert (summary["outcome"], summary["calls"]) == ("success", planned)

    third = spawn(*command, env=host_env, cwd=tmp_path, stderr=err)  # after a reboot, say
    assert third.status() == {**status, "simulatedTime": None}
    third.stop()
    assert json.loads((run_dir / ".simba" / "summary.json").read_text()) == summary


def test_jobs_completed_after_kill_9_counts_every_traced_call(
    write_scenario: WriteScenario, tmp_path: Path, host_env: dict[str, str]
) -> None:
    """After kill -9 the checkpoint lags; the restarted module still reports every call that
    finished before, from the first request on, and finishes the plan."""
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
    first = spawn("--api", scenario, env=host_env, cwd=tmp_path, stderr=tmp_path / "err")
    assert first.wait() == -signal.SIGKILL
    assert flag.exists()
    (run_dir,) = (p for p in Path(host_env["STATE_ROOT"]).iterdir() if p.is_dir())
    assert run_dir.name.startswith(scenario.name + "-")  # derived from the scenario
    trace = (run_dir / ".simba" / "trace.jsonl").read_text().splitlines()
    finished = sum(json.loads(line)["outcome"] == "success" for line in trace)
    assert finished == 3 + 6 * 3 + 2  # start calls, ticks 0..5, a and b at tick 6

    second = spawn("--api", scenario, env=host_env, cwd=tmp_path, stderr=tmp_path / "err")
    assert second.status()["jobsCompleted"] >= finished
    assert second.wait_ended()["jobsCompleted"] == 36
    second.stop()
    assert "INFO: run finished: 36 jobs completed" in " ".join(second.lines)


def test_lifetime_jobs_grow_across_run_ids(
    write_scenario: WriteScenario, tmp_path: Path, host_env: dict[str, str]
) -> None:
    """jobsCompleted belongs to the module: a new run id goes on from the earlier runs' total."""
    scenario = write_scenario(steps(1, 0.0), driver(2))
    first = spawn("--api", scenario, "--run-id", "one", env=host_env, cwd=tmp_path,
                  stderr=tmp_path / "err")  # fmt: skip
    assert first.wait_ended()["jobsCompleted"] == 4
    first.stop()
    second = spawn("--api", scenario, "--run-id", "two", env=host_env, cwd=tmp_path,
                   stderr=tmp_path / "err")  # fmt: skip
    assert second.status()["jobsCompleted"] >= 4
    assert second.wait_ended()["jobsCompleted"] == 8
    second.stop()
    stored = json.loads((tmp_path / "state" / "simba-jobs.json").read_text())
    assert sorted(stored["runs"].values()) == [4, 4]


def test_sigterm_ends_simba_in_time_even_if_a_module_ignores_it(
    write_scenario: WriteScenario, tmp_path: Path, host_env: dict[str, str]
) -> None:
    """A module that ignores SIGTERM: SIMBA still ends within its grace (4 s), by SIGTERM,
    with no process of the run left."""
    scenario = write_scenario([{"name": "deaf", "priority": 1, "command": TRAP}], driver(2))
    station = spawn("--api", scenario, "--run-id", "deaf", env=host_env, cwd=tmp_path,
                    stderr=tmp_path / "err")  # fmt: skip
    run_dir = tmp_path / "state" / "deaf"
    assert wait_until(lambda: len(run_processes(run_dir, settle=0)) >= 2)
    took = station.stop()
    print(f"SIGTERM to end: {took:.2f} s")
    assert took < 4.5
    assert run_processes(run_dir, settle=0.5) == []


def test_sigkill_of_simba_leaves_no_module_process(
    write_scenario: WriteScenario, tmp_path: Path, host_env: dict[str, str]
) -> None:
    """The host's SIGKILL: the run's processes (SIGTERM-proof, in groups of their own) end
    with SIMBA; the same command then resumes the run."""
    scenario = write_scenario([{"name": "deaf", "priority": 1, "command": TRAP}], driver(2))
    station = spawn("--api", scenario, "--run-id", "k", env=host_env, cwd=tmp_path,
                    stderr=tmp_path / "err")  # fmt: skip
    run_dir = tmp_path / "state" / "k"
    assert wait_until(lambda: len(run_processes(run_dir, settle=0)) >= 2)
    station.process.send_signal(signal.SIGKILL)
    assert station.wait() == -signal.SIGKILL
    assert run_processes(run_dir, settle=3.0) == []


# -- the API and the output ----------------------------------------------------------------


def test_api_is_read_only_json(
    write_scenario: WriteScenario, tmp_path: Path, host_env: dict[str, str]
) -> None:
    """GET / and GET /stats answer the status; other paths are 404, other methods 405."""
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
    for method, data in (("POST", b"{}"), ("HEAD", None)):
        request = urllib.request.Request(station.api + "/stats", data=data, method=method)
        with pytest.raises(urllib.error.HTTPError) as refused:
            OPENER.open(request)
        refused.value.close()
        assert refused.value.code == 405
    assert station.wait_ended() == station.status("/stats")
    station.stop()
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
    station.wait_ended()
    station.stop()


def test_failures_are_error_lines_with_their_cause(
    write_scenario: WriteScenario, tmp_path: Path, host_env: dict[str, str]
) -> None:
    """A failing call and the failed run are ERROR: lines carrying the stderr tail; modules'
    INFO/ERROR lines pass on; the failed module keeps serving 'failed' until SIGTERM."""
    failing = {
        "name": "model",
        "priority": 1,
        "command": SCRIPTED,
        "moduleData": {
            "onTick": 1,
            "stdout": ["INFO: diverging", "ERROR: NaN"],
            "stderr": ["reading forcing.nc", "ValueError: forcing.nc has no variable 'tas'"],
            "exit": 4,
        },
    }
    scenario = write_scenario([failing], driver(3))
    station = spawn("--api", scenario, env=host_env, cwd=tmp_path, stderr=tmp_path / "err")
    assert station.wait_ended()["state"] == "failed"
    station.stop()
    assert_station_output(station.lines)
    assert "INFO: [model] diverging" in station.lines
    assert "ERROR: [model] NaN" in station.lines
    (failed,) = (line for line in station.lines if line.startswith("ERROR: run failed:"))
    assert "module 'model' (step at tick 1)" in failed and "exited with code 4" in failed
    assert "ValueError: forcing.nc has no variable 'tas'" in failed


def test_bad_scenario_gives_one_error_line_per_problem(
    write_scenario: WriteScenario, tmp_path: Path, host_env: dict[str, str]
) -> None:
    """A scenario with two problems: the API line first, then an ERROR: line for each."""
    bad = [
        {"name": "a", "priority": 1, "command": OK, "tickIncrement": -1},
        {"name": "b", "priority": 1, "command": OK},
    ]
    scenario = write_scenario(bad, driver(2))
    station = spawn("--api", scenario, env=host_env, cwd=tmp_path, stderr=tmp_path / "err")
    assert station.wait_ended()["state"] == "failed"
    station.stop()
    errors = [line for line in station.lines if line.startswith("ERROR: ")]
    assert errors[0] == "ERROR: the scenario has 2 problems:"
    assert len(errors) == 4 and "schedule.json" in errors[1] and "schedule.json" in errors[2]


def test_usage_error_is_an_error_line(tmp_path: Path, host_env: dict[str, str]) -> None:
    """A command line click refuses: API line, then an ERROR: line saying what is wrong."""
    station = spawn("--api", tmp_path, "--jobs", "0", env=host_env, cwd=tmp_path,
                    stderr=tmp_path / "err")  # fmt: skip
    assert wait_until(lambda: bool(station.lines))
    assert station.status()["state"] == "failed"
    station.stop()
    assert station.lines[0].startswith("ERROR: usage: ") and "--jobs" in station.lines[0]


def test_root_dir_wins_over_state_root_and_cache_root_holds_caches(
    write_scenario: WriteScenario, tmp_path: Path, host_env: dict[str, str]
) -> None:
    """Station gives a module ROOT_DIR and passes on its own STATE_ROOT: runs go under
    ROOT_DIR, services' caches under CACHE_ROOT; FIL_WALLET_ADDRESS reaches the modules."""
    env = {**host_env, "ROOT_DIR": str(tmp_path / "mine")}
    service = {"name": "svc", "type": "service", "priority": 9, "command": SERVICE,
               "readyTimeout": 5}  # fmt: skip
    scenario = write_scenario([service, *steps(1, 0.0)], driver(2))
    station = spawn("--api", scenario, "--run-id", "here", env=env, cwd=tmp_path,
                    stderr=tmp_path / "err")  # fmt: skip
    assert station.wait_ended()["state"] == "finished", (tmp_path / "err").read_text()
    station.stop()
    run_dir = tmp_path / "mine" / "here"
    assert (run_dir / ".simba" / "summary.json").is_file()
    assert list((tmp_path / "state").iterdir()) == []
    assert (tmp_path / "mine" / "simba-jobs.json").is_file()
    start = json.loads((run_dir / "modules/svc/state/start.json").read_text())
    cache = Path(start["directories"]["CACHE_ROOT"]["path"])
    assert cache.is_relative_to(tmp_path / "cache") and cache.name == "svc"
    assert start["env"]["FIL_WALLET_ADDRESS"] == "f1hosttestwalletaddress"


def test_relative_output_directory_is_taken_under_the_root(
    write_scenario: WriteScenario, tmp_path: Path, host_env: dict[str, str]
) -> None:
    """A relative outputDirectory resolves under the module's root, not the working directory."""
    scenario = write_scenario(steps(1, 0.0), {**driver(2), "outputDirectory": "mine"})
    station = spawn("--api", scenario, "--run-id", "r", env=host_env, cwd=tmp_path,
                    stderr=tmp_path / "err")  # fmt: skip
    station.wait_ended()
    station.stop()
    assert (tmp_path / "state" / "mine" / "r" / ".simba" / "summary.json").is_file()
    assert not (tmp_path / "mine").exists()


def wait_until(condition: Callable[[], bool], timeout: float = 20) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True
