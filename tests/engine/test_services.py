"""Hosting ``type: service`` modules with real processes on loopback (DESIGN §6, issue 5)."""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from conftest import EXAMPLES, MODULES, run_cli

from simba.engine import Engine, RunOptions
from simba.engine import service_log as service_log_module
from simba.engine import services as services_module
from simba.errors import ScenarioError, ServiceError
from simba.events import (
    CallStarted,
    Event,
    ModuleLine,
    RunWarning,
    ServiceStarted,
    ServiceStats,
)
from simba.scenario import load_scenario

SERVICE = str(MODULES / "svc_service.py")
CLIENT = str(MODULES / "svc_client.py")

WriteScenario = Callable[..., Path]


#: Tests of something else give a service this long to start, for a loaded machine.
RELAXED_READY = 5


def service(name: str = "svc", priority: float = 100, **fields: Any) -> dict[str, Any]:
    """A schedule entry for svc_service.py; ``env`` keys configure its behaviour.

    ``readyTimeout`` defaults to :data:`RELAXED_READY`; ``readyTimeout=None`` leaves it out
    (SIMBA's default: later than 0.5 s is a warning).
    """
    fields.setdefault("readyTimeout", RELAXED_READY)
    if fields["readyTimeout"] is None:
        del fields["readyTimeout"]
    entry: dict[str, Any] = {"name": name, "type": "service", "priority": priority}
    return {"command": SERVICE, **entry, **fields}


def client(priority: float = 1, **module_data: Any) -> dict[str, Any]:
    """A schedule entry for svc_client.py, which POSTs /job to the services every call."""
    entry: dict[str, Any] = {"name": "client", "priority": priority, "command": CLIENT}
    if module_data:
        entry["moduleData"] = module_data
    return entry


class Recorder(list[Event]):
    """An observer that keeps every event."""

    def __call__(self, event: Event) -> None:
        self.append(event)

    def of(self, kind: type[Any]) -> list[Any]:
        return [event for event in self if isinstance(event, kind)]


def run(scenario: Path, out: Path, **options: Any) -> tuple[Engine, Recorder]:
    """Run in-process (services and calls are real processes); the engine and its events."""
    events = Recorder()
    engine = Engine(
        load_scenario(scenario),
        RunOptions(output_directory=out, run_id="run", **options),
        [events],
    )
    engine.run()
    return engine, events


def run_failing(scenario: Path, out: Path) -> tuple[ServiceError, Recorder, float]:
    """Run a scenario that must fail with a ServiceError; the error, the events, seconds taken."""
    events = Recorder()
    engine = Engine(
        load_scenario(scenario), RunOptions(output_directory=out, run_id="run"), [events]
    )
    started = time.monotonic()
    with pytest.raises(ServiceError) as caught:
        engine.run()
    return caught.value, events, time.monotonic() - started


def summary_of(run_dir: Path) -> dict[str, Any]:
    summary: dict[str, Any] = json.loads((run_dir / ".simba" / "summary.json").read_text())
    return summary


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


# -- readiness ----------------------------------------------------------------------------


def test_service_is_ready_before_the_first_call_and_every_config_names_it(
    write_scenario: WriteScenario, tmp_path: Path
) -> None:
    """A service prints its API line within the default 0.5 s and every call can use it."""
    log = tmp_path / "client.log"
    scenario = write_scenario([service(readyTimeout=None), client(log=str(log))])
    engine, events = run(scenario, tmp_path / "out")
    started = events.of(ServiceStarted)
    assert [event.module for event in started] == ["svc"]
    api = started[0].api
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", api)
    assert events.index(started[0]) < events.index(events.of(CallStarted)[0])
    calls = log.read_text().splitlines()
    assert calls == [
        f"{mode} {tick} svc {api}"
        for mode, tick in [("start", 0), ("step", 0), ("step", 1), ("step", 2), ("end", 3)]
    ]
    config = json.loads((engine.rundir.root / "1" / "module_2.json").read_text())
    key = config["services"]["svc"]["keyFile"]  # the per-run secret (service_key)
    assert config["services"] == {"svc": {"api": api, "keyFile": key}}
    assert Path(key).stat().st_mode & 0o777 == 0o600
    summary = summary_of(engine.rundir.root)["services"]["svc"]
    assert summary["api"] == api
    assert summary["jobsCompleted"] == 5  # the last poll, just before SIGTERM
    assert not alive(started[0].pid)


def test_services_start_in_priority_order(write_scenario: WriteScenario, tmp_path: Path) -> None:
    """Services start higher priority first, each ready before the next, whatever the order."""
    scenario = write_scenario(
        [service("low", 5), client(), service("high", 50), service("middle", 10)]
    )
    engine, events = run(scenario, tmp_path / "out")
    assert [event.module for event in events.of(ServiceStarted)] == ["high", "middle", "low"]
    config = json.loads((engine.rundir.root / "end" / "module_2.json").read_text())
    assert sorted(config["services"]) == ["high", "low", "middle"]


def test_missing_api_line_fails_the_run_naming_the_service(
    write_scenario: WriteScenario, tmp_path: Path
) -> None:
    """A service that never prints its API line fails the run before any call, and is stopped."""
    scenario = write_scenario(
        [
            service(
                "silent", env={"SVC_NO_API": "1", "SVC_SAY": "INFO: warming up"}, readyTimeout=0.5
            ),
            client(),
        ]
    )
    error, events, seconds = run_failing(scenario, tmp_path / "out")
    message = str(error)
    assert "service 'silent'" in message
    assert "'API: <url>' line never came within its readyTimeout of 0.5 s" in message
    assert "| INFO: warming up" in message  # what it printed, quoted
    assert error.module == "silent"
    assert not events.of(CallStarted)
    assert seconds < 5
    run_dir = tmp_path / "out" / "run"
    summary = summary_of(run_dir)
    assert summary["outcome"] == "failed"
    assert summary["services"]["silent"]["signal"] == "SIGTERM"  # stopped, not left behind


def test_late_api_line_is_a_warning_unless_ready_timeout_is_set(
    write_scenario: WriteScenario, tmp_path: Path
) -> None:
    """An API line after 0.7 s: without readyTimeout the run goes on with a warning naming
    the 500 ms the interface asks for; with readyTimeout 0.5 s it fails the run."""
    slow = {"SVC_API_DELAY": "0.7"}
    _, events = run(
        write_scenario([service(env=slow, readyTimeout=None), client()]), tmp_path / "a"
    )
    assert len(events.of(ServiceStarted)) == 1
    (late,) = [w.message for w in events.of(RunWarning) if "'API: <url>' line" in w.message]
    assert "within 500 ms" in late and "set readyTimeout" in late
    scenario = write_scenario([service(env=slow, readyTimeout=0.5), client()])
    error, _, _ = run_failing(scenario, tmp_path / "b")
    assert "never came within its readyTimeout of 0.5 s" in str(error)


def test_api_line_written_in_pieces_is_read_whole(
    write_scenario: WriteScenario, tmp_path: Path
) -> None:
    """An API line that arrives in three writes 0.1 s apart gives the full URL."""
    log = tmp_path / "client.log"
    scenario = write_scenario(
        [service(env={"SVC_SPLIT": "1"}, readyTimeout=3), client(log=str(log))]
    )
    _, events = run(scenario, tmp_path / "out")
    api = events.of(ServiceStarted)[0].api
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", api)
    assert all(line.endswith(api) for line in log.read_text().splitlines())


def test_unusable_api_line_fails_the_run(write_scenario: WriteScenario, tmp_path: Path) -> None:
    """An API line without an http URL fails the run and says why."""
    scenario = write_scenario([service(env={"SVC_BAD_API": "1"}), client()])
    error, _, _ = run_failing(scenario, tmp_path / "out")
    assert "printed the API line 'API: not-a-url'" in str(error)
    assert "is not an http:// or https:// URL" in str(error)


def test_exit_before_api_line_quotes_code_and_output(
    write_scenario: WriteScenario, tmp_path: Path
) -> None:
    """A service that exits before its API line fails the run with its exit code and output."""
    scenario = write_scenario([service(env={"SVC_EXIT_BEFORE_API": "3"}), client()])
    error, _, _ = run_failing(scenario, tmp_path / "out")
    assert "service 'svc' exited with code 3 before printing its 'API: <url>' line" in str(error)
    assert "| going down" in str(error)
    assert error.exit_code == 3


# -- output -------------------------------------------------------------------------------


def test_info_and_error_lines_become_module_line_events(
    write_scenario: WriteScenario, tmp_path: Path
) -> None:
    """INFO:/ERROR: lines of either stream are surfaced with the service's name; others not."""
    say = "INFO: loaded 3 models|ERROR: disk almost full|just chatter|!INFO: from stderr"
    scenario = write_scenario([service("store", env={"SVC_SAY": say}), client()])
    _, events = run(scenario, tmp_path / "out")
    lines = [(e.module, e.level, e.text) for e in events.of(ModuleLine)]
    assert lines == [
        ("store", "INFO", "loaded 3 models"),
        ("store", "ERROR", "disk almost full"),
        ("store", "INFO", "from stderr"),
    ]


def test_module_log_has_both_streams_timestamped(
    write_scenario: WriteScenario, tmp_path: Path
) -> None:
    """modules/<name>/module.log holds stdout and stderr, one timestamped line each."""
    scenario = write_scenario([service(env={"SVC_SAY": "hello|!oops on stderr"}), client()])
    engine, _ = run(scenario, tmp_path / "out")
    log = (engine.rundir.root / "modules" / "svc" / "module.log").read_text().splitlines()
    stamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00"
    assert re.fullmatch(rf"{stamp} stdout API: http://127\.0\.0\.1:\d+", log[0])
    assert re.fullmatch(rf"{stamp} stdout hello", log[1])
    assert re.fullmatch(rf"{stamp} stderr oops on stderr", log[2])


def test_module_log_rotates_keeping_one_old_file(
    write_scenario: WriteScenario, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past LOG_MAX_BYTES the log moves to module.log.1 (replacing an older one); no line lost
    at the last rotation."""
    monkeypatch.setattr(service_log_module, "LOG_MAX_BYTES", 4096)
    scenario = write_scenario([service(env={"SVC_SPAM": "200"}), client()])
    engine, _ = run(scenario, tmp_path / "out")
    directory = engine.rundir.root / "modules" / "svc"
    assert sorted(p.name for p in directory.iterdir()) == [
        "cache",
        "module.log",
        "module.log.1",
        "state",
    ]
    old, new = (directory / "module.log.1").read_text(), (directory / "module.log").read_text()
    assert 3000 < len(old.encode()) <= 4096
    assert len(new.encode()) <= 4096
    numbers = [int(n) for n in re.findall(r"spam (\d{6})", old + new)]
    assert numbers == list(range(numbers[0], 200))  # contiguous up to the last spam line
    assert numbers[0] > 0  # the earliest lines went with the older rotations


# -- stats --------------------------------------------------------------------------------


def test_stats_polling_tolerates_errors_and_warns_when_the_count_drops(
    write_scenario: WriteScenario, tmp_path: Path
) -> None:
    """Failed polls give one warning, a decrease another; the latest count is reported and kept."""
    scenario = write_scenario(
        [
            service(env={"SVC_JOBS": "E,J,3,5,2,6"}, statsInterval=0.1),
            client(sleep=0.6),
        ]
    )
    engine, events = run(scenario, tmp_path / "out")
    warnings = [e.message for e in events.of(RunWarning) if e.module == "svc"]
    assert len(warnings) == 2, warnings
    assert warnings[0].startswith("could not read its stats from http://127.0.0.1:")
    assert "HTTP status 500" in warnings[0]
    assert warnings[1] == (
        "jobsCompleted went down from 5 to 2; a service's jobsCompleted must never decrease"
    )
    assert [e.jobs_completed for e in events.of(ServiceStats)] == [3, 5, 2, 6]
    assert summary_of(engine.rundir.root)["services"]["svc"]["jobsCompleted"] == 6


def test_progress_output_shows_the_latest_count(
    write_scenario: WriteScenario, tmp_path: Path
) -> None:
    """The plain progress output (verbose) prints the service's jobsCompleted as it changes."""
    scenario = write_scenario([service(statsInterval=0.1), client(sleep=0.3)])
    result = run_cli("run", scenario, "-o", tmp_path / "out", "-v", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    counts = [int(n) for n in re.findall(r"\[svc\] jobsCompleted (\d+)", result.stdout)]
    assert counts and counts[-1] == 5
    assert counts == sorted(counts)
    assert re.search(r"svc +http://127\.0\.0\.1:\d+ +5 +SIGTERM", result.stdout)


# -- stopping -----------------------------------------------------------------------------


def test_sigterm_comes_after_the_last_end_call(
    write_scenario: WriteScenario, tmp_path: Path
) -> None:
    """Services get SIGTERM only once the end calls are done, and may exit cleanly on it."""
    out = tmp_path / "out"
    end_status = out / "run" / "end" / "status_2.json"
    scenario = write_scenario(
        [service(env={"SVC_ON_TERM": "record", "SVC_WATCH": str(end_status)}), client()]
    )
    engine, _ = run(scenario, out)
    state = engine.rundir.root / "modules" / "svc" / "state"
    assert json.loads((state / "terminated").read_text()) == {"watched": [str(end_status)]}
    summary = summary_of(engine.rundir.root)["services"]["svc"]
    assert (summary["exitCode"], summary["signal"], summary["endedEarly"]) == (0, None, False)


def test_service_ignoring_sigterm_is_killed_after_the_grace_period(
    write_scenario: WriteScenario, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A service that ignores SIGTERM gets SIGKILL after the grace period; the run succeeds."""
    monkeypatch.setattr(services_module, "STOP_GRACE_PERIOD", 0.5)
    scenario = write_scenario([service(env={"SVC_ON_TERM": "ignore"}), client()])
    started = time.monotonic()
    engine, _ = run(scenario, tmp_path / "out")
    assert time.monotonic() - started < 5
    assert summary_of(engine.rundir.root)["services"]["svc"]["signal"] == "SIGKILL"


@pytest.mark.parametrize(
    ("env", "how"),
    [
        ({}, "exited with code 1"),
        ({"SVC_CRASH_SIGNAL": "SIGKILL"}, "was killed by signal SIGKILL"),
    ],
    ids=["exit-code", "signal"],
)
def test_service_crash_mid_run_fails_it_within_a_second(
    write_scenario: WriteScenario, tmp_path: Path, env: dict[str, str], how: str
) -> None:
    """A service that dies during a 30 s step fails the run at once (exit 1), quoting its
    last 100 log lines."""
    crash = {"SVC_CRASH_AFTER": "1", "SVC_CRASH_LINES": "150", **env}
    scenario = write_scenario([service("db", env=crash), client(sleep=30)])
    started = time.monotonic()
    result = run_cli("run", scenario, "-o", tmp_path / "out", "--run-id", "run", cwd=tmp_path)
    ended = datetime.now(timezone.utc)
    assert result.returncode == 1, result.stderr
    assert time.monotonic() - started < 10  # far below the 30 s step
    log = tmp_path / "out" / "run" / "modules" / "db" / "module.log"
    crashed = datetime.fromisoformat(log.read_text().splitlines()[-1].split(" ")[0])
    delay = (ended - crashed).total_seconds()
    print(f"SIMBA exited {delay:.2f} s after the service's last line ({how})")
    assert delay < 2.5  # about a second; slack for a loaded machine
    message = result.stderr
    assert f"service 'db' {how} while the run was going on (tick 0)" in message
    assert "last 100 lines of its log:" in message
    assert "| crash-line-150" in message and "| crash-line-051" in message
    assert "crash-line-050" not in message
    assert str(tmp_path / "out" / "run" / "modules" / "db" / "module.log") in message
    summary = summary_of(tmp_path / "out" / "run")
    assert summary["outcome"] == "failed"
    assert summary["services"]["db"]["endedEarly"] is True


# -- environment --------------------------------------------------------------------------


def test_environment_and_directories(
    write_scenario: WriteScenario, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """STATE_ROOT/CACHE_ROOT are the service's own 0700 directories, ROOT_DIR = STATE_ROOT,
    and it sees its env plus SIMBA's environment."""
    monkeypatch.setenv("FIL_WALLET_ADDRESS", "f1simbatestwallet")
    old_umask = os.umask(0)  # a permissive umask must not loosen the directories
    try:
        scenario = write_scenario([service(env={"SVC_EXTRA": "from env"}), client()])
        engine, _ = run(scenario, tmp_path / "out")
    finally:
        os.umask(old_umask)
    root = engine.rundir.root
    state = root / "modules" / "svc" / "state"
    start = json.loads((state / "start.json").read_text())
    directories = start["directories"]
    assert directories["STATE_ROOT"] == {"path": str(state), "mode": "0o700"}
    assert directories["CACHE_ROOT"] == {"path": str(state.parent / "cache"), "mode": "0o700"}
    assert directories["ROOT_DIR"] == directories["STATE_ROOT"]
    assert start["env"] == {
        "SVC_EXTRA": "from env",
        "FIL_WALLET_ADDRESS": "f1simbatestwallet",
        "SIMBA_RUN_DIR": str(root),
    }
    for path in (state, state.parent / "cache"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o700


def test_cache_directory_option_moves_cache_root(
    write_scenario: WriteScenario, tmp_path: Path
) -> None:
    """With RunOptions.cache_directory, CACHE_ROOT is a 0700 directory under it, per run."""
    scenario = write_scenario([service(), client()])
    engine, _ = run(scenario, tmp_path / "out", cache_directory=tmp_path / "caches")
    start = json.loads((engine.rundir.root / "modules/svc/state/start.json").read_text())
    cache = Path(start["directories"]["CACHE_ROOT"]["path"])
    assert cache.parent.parent == tmp_path / "caches"
    assert cache.name == "svc" and cache.parent.name.startswith("run-")
    assert start["directories"]["CACHE_ROOT"]["mode"] == "0o700"


# -- the scenario -------------------------------------------------------------------------


def test_services_are_hosted_not_called(write_scenario: WriteScenario) -> None:
    """A service is not among the called modules; its timing fields are parsed, with defaults."""
    loaded = load_scenario(
        write_scenario(
            [
                client(),
                service("a", readyTimeout="PT2S", statsInterval=0.25),
                service("b", priority=7, readyTimeout=None),
            ]
        )
    )
    assert [m.name for m in loaded.modules] == ["client"]
    assert [(s.name, s.ready_timeout, s.stats_interval) for s in loaded.services] == [
        ("a", 2.0, 0.25),
        ("b", None, 1.0),
    ]


@pytest.mark.parametrize(
    ("entry", "where", "says"),
    [
        (
            {"name": "x", "priority": 3, "command": CLIENT, "readyTimeout": 1},
            "schedule[1].readyTimeout",
            "readyTimeout applies to type 'service' only",
        ),
        (
            service("x", 3, statsInterval=0.05),
            "schedule[1].statsInterval",
            "0.1",
        ),
        (
            service("x", 3, statsInterval="PT0.01S"),
            "schedule[1].statsInterval",
            "statsInterval must be at least 0.1 s, not 0.01 s",
        ),
        (
            service("x", 3, readyTimeout=0),
            "schedule[1].readyTimeout",
            "",
        ),
        (
            service("x", 3, tickIncrement=2),
            "schedule[1].tickIncrement",
            "a service is not called, so tickIncrement does not apply to it",
        ),
        (
            service("x", 3, moduleData={"a": 1}),
            "schedule[1].moduleData",
            "a service is not called, so moduleData does not apply to it",
        ),
    ],
    ids=[
        "ready-timeout-on-local",
        "stats-interval-too-short",
        "stats-interval-duration-too-short",
        "ready-timeout-zero",
        "tick-increment-on-service",
        "module-data-on-service",
    ],
)
def test_bad_service_fields_are_scenario_errors(
    write_scenario: WriteScenario, entry: dict[str, Any], where: str, says: str
) -> None:
    """Misplaced or out-of-range service fields are reported with their JSON path."""
    with pytest.raises(ScenarioError) as caught:
        load_scenario(write_scenario([client(), entry]))
    problems = [(p.path, p.message) for p in caught.value.problems]
    assert any(path == where and says in message for path, message in problems), problems


def test_depending_on_a_service_is_a_scenario_error(write_scenario: WriteScenario) -> None:
    """dependsOn may not name a service: services are ready before any call."""
    entry = {**client(), "dependsOn": ["svc"]}
    with pytest.raises(ScenarioError, match="which is a service"):
        load_scenario(write_scenario([service(), entry]))


# -- the example --------------------------------------------------------------------------


def test_example_services_runs(tmp_path: Path) -> None:
    """examples/services: a key-value store service used by two step modules."""
    env = {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    result = run_cli(
        "run", EXAMPLES / "services", "-o", tmp_path, "--run-id", "kv", cwd=tmp_path, env=env
    )
    assert result.returncode == 0, result.stdout + result.stderr
    run_dir = tmp_path / "kv"
    report = json.loads((run_dir / "report.json").read_text())
    assert [row["date"] for row in report] == [f"2024-01-{day:02d}" for day in range(1, 15)]
    assert report[6]["mean7"] == round(sum(row["reading"] for row in report[:7]) / 7, 2)
    summary = summary_of(run_dir)
    assert summary["outcome"] == "success"
    assert summary["commonData"]["mean7"] == report[-1]["mean7"]
    kv = summary["services"]["kv"]
    assert kv["jobsCompleted"] == 28  # a reading and a mean per day
    assert kv["exitCode"] == 0  # it saves and exits on SIGTERM
    store = json.loads((run_dir / "modules" / "kv" / "state" / "store.json").read_text())
    assert store["jobsCompleted"] == 28
    assert "[kv] INFO: stopping after 28 writes" in result.stdout


def test_service_survives_resume_with_its_state(
    write_scenario: WriteScenario, tmp_path: Path
) -> None:
    """After SIGTERM and --resume, the service restarts with the same STATE_ROOT and log."""
    scenario = write_scenario([service(), client(sleep=0.4, log=str(tmp_path / "c.log"))])
    process = subprocess.Popen(
        [sys.executable, "-m", "simba", "run", scenario, "-o", tmp_path / "out", "--run-id", "r"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while not (tmp_path / "c.log").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 143, err
    result = run_cli("run", "--resume", tmp_path / "out" / "r", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    log = (tmp_path / "out" / "r" / "modules" / "svc" / "module.log").read_text()
    assert len(re.findall(r"stdout API: ", log)) == 2  # one log across both drivers
    assert summary_of(tmp_path / "out" / "r")["outcome"] == "success"
