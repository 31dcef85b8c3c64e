"""The local runner on its own: real processes, their exit, output, environment and limits."""

from __future__ import annotations

import dataclasses
import json
import resource
import shlex
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import MODULES, process_gone

from simba.runners.base import CallRequest, CallResult
from simba.runners.local import LocalRunner
from simba.scenario import ModuleSpec, load_scenario

OK = str(MODULES / "ok.sh")
RECORD = str(MODULES / "record.py")


@pytest.fixture
def make_spec(write_scenario: Callable[..., Path]) -> Callable[..., ModuleSpec]:
    """A ModuleSpec loaded from a one-module scenario with the given command and fields."""

    def make(command: str | list[str], **fields: Any) -> ModuleSpec:
        entry = {"name": "m", "priority": 1, "command": command, **fields}
        return load_scenario(write_scenario([entry])).modules[0]

    return make


@pytest.fixture
def call(tmp_path: Path) -> Callable[..., tuple[CallResult, Path]]:
    """Write a start config into a fresh call directory and run ``spec`` on it."""
    counter = iter(range(1000))

    def run(
        spec: ModuleSpec,
        *,
        timeout: float | None = 10,
        runner: LocalRunner | None = None,
        module_data: dict[str, Any] | None = None,
    ) -> tuple[CallResult, Path]:
        directory = tmp_path / f"call{next(counter)}"
        directory.mkdir()
        config = {
            "mode": "start",
            "statusFile": str(directory / "status_1.json"),
            "outputDirectory": str(tmp_path),
            "tickFormat": "{:01d}",
            "currentTick": 0,
            "currentTime": "2024-01-01T00:00:00",
        }
        if module_data is not None:
            config["moduleData"] = module_data
        (directory / "module_1.json").write_text(json.dumps(config, indent=2))
        with runner or LocalRunner() as active:
            result = active.run(
                CallRequest(
                    module=spec,
                    config_path=directory / "module_1.json",
                    stdout_path=directory / "stdout_1",
                    stderr_path=directory / "stderr_1",
                    timeout=timeout,
                )
            )
        return result, directory

    return run


def record_of(directory: Path, log: Path) -> dict[str, Any]:
    (line,) = log.read_text().splitlines()
    record: dict[str, Any] = json.loads(line)
    assert record["configPath"] == str(directory / "module_1.json")
    return record


def test_success(make_spec: Callable[..., ModuleSpec], call: Callable[..., Any]) -> None:
    """A module that succeeds returns exit code 0 and has written its status file."""
    result, directory = call(make_spec(OK))
    assert (result.exit_code, result.signal, result.timed_out) == (0, None, False)
    assert result.wall_time > 0
    assert json.loads((directory / "status_1.json").read_text()) == {"status": "success"}


def test_exit_code_passed_through(
    make_spec: Callable[..., ModuleSpec], call: Callable[..., Any]
) -> None:
    """A module's exit code 3 comes back as is, with its stderr in the stderr file."""
    result, directory = call(make_spec(str(MODULES / "exit3.sh")))
    assert (result.exit_code, result.signal, result.timed_out) == (3, None, False)
    assert (directory / "stderr_1").read_text() == "exit3: giving up with code 3\n"


def test_killed_by_signal(make_spec: Callable[..., ModuleSpec], call: Callable[..., Any]) -> None:
    """A module killed by a signal has no exit code and reports the signal."""
    spec = make_spec(str(MODULES / "scripted.py"))
    result, _ = call(spec, module_data={"killSelf": "SIGKILL"})
    assert (result.exit_code, result.signal) == (None, signal.SIGKILL)


def test_shell_command_with_pipe(
    make_spec: Callable[..., ModuleSpec], call: Callable[..., Any]
) -> None:
    """A command with a pipe runs via /bin/sh and its last program still gets the config path."""
    spec = make_spec(f"echo piped | {shlex.quote(OK)}")
    assert spec.argv[0] == "/bin/sh"
    result, directory = call(spec)
    assert result.exit_code == 0
    assert (directory / "status_1.json").exists()


def test_shell_command_uses_config_path(
    make_spec: Callable[..., ModuleSpec], call: Callable[..., Any], tmp_path: Path
) -> None:
    """A shell command that names "$1" finds the config path there, in any of its commands."""
    log = tmp_path / "log.jsonl"
    command = f'test -f "$1" && SIMBA_TEST_SHELL=yes {shlex.quote(RECORD)} "$1"'
    spec = make_spec(command, env={"RECORD_LOG": str(log)})
    assert spec.argv[0] == "/bin/sh"
    result, directory = call(spec)
    assert result.exit_code == 0, (directory / "stderr_1").read_text()
    record = record_of(directory, log)
    assert record["argv"][-1] == str(directory / "module_1.json")
    assert record["env"] == {"SIMBA_TEST_SHELL": "yes"}


def test_shell_command_without_positional_gets_config_path_at_the_end(
    make_spec: Callable[..., ModuleSpec], call: Callable[..., Any], tmp_path: Path
) -> None:
    """A shell command that does not name $1 or $@ gets the config path after its last word."""
    log = tmp_path / "log.jsonl"
    spec = make_spec(f"true && {shlex.quote(RECORD)}", env={"RECORD_LOG": str(log)})
    assert spec.argv[0] == "/bin/sh"
    result, directory = call(spec)
    assert result.exit_code == 0, (directory / "stderr_1").read_text()
    assert record_of(directory, log)["argv"][-1] == str(directory / "module_1.json")


def test_argv_list_command(
    make_spec: Callable[..., ModuleSpec], call: Callable[..., Any], tmp_path: Path
) -> None:
    """An argv list runs without a shell; its arguments arrive intact, the config path last."""
    log = tmp_path / "log.jsonl"
    spec = make_spec(
        [sys.executable, RECORD, "--flag", "two words", "$HOME"], env={"RECORD_LOG": str(log)}
    )
    result, directory = call(spec)
    assert result.exit_code == 0
    record = record_of(directory, log)
    assert record["argv"] == ["--flag", "two words", "$HOME", str(directory / "module_1.json")]


def test_env_reaches_process(
    make_spec: Callable[..., ModuleSpec], call: Callable[..., Any], tmp_path: Path
) -> None:
    """The module's env values are set in the process, on top of the driver's environment."""
    log = tmp_path / "log.jsonl"
    env = {"RECORD_LOG": str(log), "SIMBA_TEST_VALUE": "hello world", "SIMBA_TEST_EMPTY": ""}
    result, directory = call(make_spec(RECORD, env=env))
    assert result.exit_code == 0
    record = record_of(directory, log)
    assert record["env"] == {"SIMBA_TEST_VALUE": "hello world", "SIMBA_TEST_EMPTY": ""}


def test_working_directory_default_is_scenario_dir(
    make_spec: Callable[..., ModuleSpec], call: Callable[..., Any], tmp_path: Path
) -> None:
    """Without workingDirectory the process runs in the scenario file's directory."""
    log = tmp_path / "log.jsonl"
    spec = make_spec(RECORD, env={"RECORD_LOG": str(log)})
    result, directory = call(spec)
    assert result.exit_code == 0
    cwd = Path(record_of(directory, log)["cwd"])
    assert cwd == tmp_path / "scenario0"
    assert (cwd / "schedule.json").is_file()


def test_working_directory_is_process_cwd(
    write_scenario: Callable[..., Path], call: Callable[..., Any], tmp_path: Path
) -> None:
    """workingDirectory (relative to the scenario file) becomes the process's cwd."""
    log = tmp_path / "log.jsonl"
    (tmp_path / "scenario0" / "work").mkdir(parents=True)
    entry = {
        "name": "m",
        "priority": 1,
        "command": RECORD,
        "workingDirectory": "work",
        "env": {"RECORD_LOG": str(log)},
    }
    spec = load_scenario(write_scenario([entry], name="scenario0")).modules[0]
    result, directory = call(spec)
    assert result.exit_code == 0
    assert Path(record_of(directory, log)["cwd"]) == tmp_path / "scenario0" / "work"


def test_large_stdout_streamed_to_file(
    make_spec: Callable[..., ModuleSpec], call: Callable[..., Any]
) -> None:
    """50 MB of stdout lands in the file without being held in the driver's memory."""
    size = 50 * 1024 * 1024
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result, directory = call(make_spec(str(MODULES / "spew.sh"), env={"SPEW_BYTES": str(size)}))
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert result.exit_code == 0
    assert (directory / "stdout_1").stat().st_size == size
    assert (after - before) / 1024 < 100, "the runner's memory grew by more than 100 MB"


def test_info_and_error_lines_picked_out(
    make_spec: Callable[..., ModuleSpec], call: Callable[..., Any]
) -> None:
    """A module's stdout goes to its file whole, and its INFO:/ERROR: lines are reported."""
    result, directory = call(make_spec(str(MODULES / "info_error.sh")))
    assert result.exit_code == 0
    assert result.lines == (("INFO", "hello from tick 0"), ("ERROR", "something odd happened"))
    assert (directory / "stdout_1").read_text() == (
        "INFO: hello from tick 0\njust chatter\nERROR: something odd happened\n"
    )


def test_timeout_stops_process_group(
    make_spec: Callable[..., ModuleSpec], call: Callable[..., Any]
) -> None:
    """A timeout stops the module and the grandchild it started, which ignores SIGTERM."""
    started = time.monotonic()
    result, directory = call(make_spec(str(MODULES / "hang_with_grandchild.sh")), timeout=0.5)
    assert time.monotonic() - started < 4
    assert result.timed_out
    assert result.exit_code is None
    pid = int((directory / "grandchild.pid").read_text())
    deadline = time.monotonic() + 2
    while not process_gone(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert process_gone(pid)


def test_sigkill_after_grace_period(
    make_spec: Callable[..., ModuleSpec], call: Callable[..., Any]
) -> None:
    """A module ignoring SIGTERM is killed with SIGKILL once the grace period is over."""
    started = time.monotonic()
    result, _ = call(
        make_spec(str(MODULES / "trap_term.sh")),
        timeout=0.3,
        runner=LocalRunner(grace_period=0.5),
    )
    elapsed = time.monotonic() - started
    assert result.timed_out
    assert result.signal == signal.SIGKILL
    assert 0.7 < elapsed < 5


def test_cancel_stops_running_call(
    make_spec: Callable[..., ModuleSpec], call: Callable[..., Any]
) -> None:
    """cancel() from another thread ends a running call, which comes back cancelled."""
    runner = LocalRunner(grace_period=1)
    timer = threading.Timer(0.5, runner.cancel)
    timer.start()
    started = time.monotonic()
    try:
        result, _ = call(
            make_spec(str(MODULES / "scripted.py")), module_data={"sleep": 30}, runner=runner
        )
    finally:
        timer.cancel()
    assert time.monotonic() - started < 5
    assert result.cancelled
    assert not result.timed_out
    assert result.exit_code is None


def test_program_that_cannot_start(
    make_spec: Callable[..., ModuleSpec], call: Callable[..., Any], tmp_path: Path
) -> None:
    """A program that vanished before the call fails without an exception, saying why."""
    spec = dataclasses.replace(make_spec(OK), argv=(str(tmp_path / "gone"),))
    result, _ = call(spec)
    assert (result.exit_code, result.signal) == (None, None)
    assert result.error is not None
    assert "could not be started" in result.error
    assert "No such file" in result.error


def test_no_process_left_behind(
    make_spec: Callable[..., ModuleSpec], call: Callable[..., Any], tmp_path: Path
) -> None:
    """A background process a successful module leaves behind is killed when the call ends."""
    pid_file = tmp_path / "bg.pid"
    command = f"sleep 60 & echo $! > {shlex.quote(str(pid_file))}; {shlex.quote(OK)}"
    result, _ = call(make_spec(command))
    assert result.exit_code == 0
    pid = int(pid_file.read_text())
    deadline = time.monotonic() + 2
    while not process_gone(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert process_gone(pid)
