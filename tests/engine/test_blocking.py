"""Nothing SIMBA opens can block it, and a call starts with exactly its config (issue 12, 3-4).

A named pipe where a status file, a log or a scenario file should be is refused without
waiting for a writer; a module that removes, rewrites or replaces by a link the config
written ahead for the next call does not change what the next call is given.  Every
test runs ``python -m simba`` as a real process with the module ``tests/modules/hostile.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import MODULES, run_cli, run_processes

HOSTILE = str(MODULES / "hostile.py")
RECORD = str(MODULES / "record.py")

Cli = Callable[..., subprocess.CompletedProcess[str]]


def hostile(action: str, priority: int = 2, **fields: Any) -> dict[str, Any]:
    """A schedule entry running hostile.py ACTION."""
    return {"name": "h", "priority": priority, "command": [HOSTILE, action], **fields}


# -- named pipes ----------------------------------------------------------------------------


def test_fifo_as_status_file_fails_the_call_and_resume_does_not_hang(
    write_scenario: Callable[..., Path], simba_cli: Cli, tmp_path: Path
) -> None:
    """A named pipe at the status path fails the call at once, and so does --resume."""
    scenario = write_scenario([hostile("fifo-status")])
    run_dir = (tmp_path / "runs" / "r").resolve()
    result = simba_cli("run", scenario, "-o", tmp_path / "runs", "--run-id", "r", timeout=60)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "module 'h' (start call at tick 0)" in result.stderr
    assert f"its status file {run_dir / '0' / 'status_1.json'} is unusable" in result.stderr
    assert "named pipe (FIFO), not a regular file" in result.stderr
    resumed = simba_cli("run", "--resume", run_dir, timeout=60)
    assert resumed.returncode == 1, resumed.stderr
    assert "named pipe (FIFO), not a regular file" in resumed.stderr


def test_fifo_as_stderr_log_does_not_block_the_failure_message(
    write_scenario: Callable[..., Path], simba_cli: Cli, tmp_path: Path
) -> None:
    """A module that puts a named pipe where its stderr log goes, then fails, fails clearly."""
    scenario = write_scenario([hostile("fifo-stderr")])
    result = simba_cli("run", scenario, "-o", tmp_path / "runs", "--run-id", "r", timeout=60)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "module 'h' (start call at tick 0) exited with code 3" in result.stderr


def test_fifo_as_stdout_log_stops_the_run_instead_of_hanging(
    write_scenario: Callable[..., Path], simba_cli: Cli, tmp_path: Path
) -> None:
    """A named pipe where a module's stdout log goes stops the run with a message naming it
    (no reader is waited for); the runner stops the module itself, so none is left over."""
    scenario = write_scenario([hostile("fifo-stdout")])
    run_dir = (tmp_path / "runs" / "r").resolve()
    result = simba_cli("run", scenario, "-o", tmp_path / "runs", "--run-id", "r", timeout=60)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert f"No such device or address: '{run_dir / '0' / 'stdout_1'}'" in result.stderr
    assert "still running when it ended" not in result.stdout  # not left to the end cleanup
    assert run_processes(run_dir, settle=0) == []


@pytest.mark.parametrize("layout", ["one-file", "driver.json", "schedule.json"])
def test_fifo_as_scenario_file_is_refused_by_validate_and_run(
    layout: str, write_scenario: Callable[..., Path], tmp_path: Path
) -> None:
    """validate and run refuse a scenario file that is a named pipe, naming it; no hang."""
    directory = write_scenario([hostile("fifo-status")])
    if layout == "one-file":
        fifo = tmp_path / "scenario.json"
        target = fifo
    else:
        fifo = directory / layout
        fifo.unlink()
        target = directory
    os.mkfifo(fifo)
    for command in ("validate", "run"):
        result = run_cli(command, target, cwd=tmp_path, timeout=60)
        assert result.returncode == 2, (command, result.stderr)
        assert "Traceback" not in result.stderr
        assert str(fifo) in result.stderr
        assert "named pipe (FIFO), not a regular file" in result.stderr
    assert not (tmp_path / "runs").exists()


# -- the config written ahead ---------------------------------------------------------------


@pytest.mark.parametrize("action", ["tidy", "rewrite", "link"])
def test_next_call_gets_its_config_whatever_the_previous_module_did(
    action: str, write_scenario: Callable[..., Path], simba_cli: Cli, tmp_path: Path
) -> None:
    """A module that removes its tick directory, rewrites or links away the next call's config
    (written ahead while it ran) does not change the config the next call starts with."""
    decoy = tmp_path / "runs" / "decoy.json"
    decoy.parent.mkdir()
    decoy.write_text('{"mode": "decoy"}\n')
    configs = {}
    for variant in ("wait", action):  # "wait" only waits for the config written ahead
        log = tmp_path / f"{variant}.jsonl"
        scenario = write_scenario(
            [
                hostile(variant),
                {"name": "rec", "priority": 1, "command": RECORD, "moduleData": {"n": 1}},
            ]
        )
        result = simba_cli(
            "run",
            scenario,
            "-o",
            tmp_path / "runs",
            "--run-id",
            variant,
            timeout=60,
            env={"RECORD_LOG": str(log)},
        )
        assert result.returncode == 0, result.stderr
        seen = [json.loads(line) for line in log.read_text().splitlines()]
        assert not any(Path(record["configPath"]).is_symlink() for record in seen)
        text = json.dumps([record["config"] for record in seen])
        configs[variant] = json.loads(text.replace(f"/runs/{variant}", "/runs/RUN"))
    assert configs[action] == configs["wait"]
    assert [(c["mode"], c["currentTick"]) for c in configs[action]] == [
        ("start", 0),
        ("step", 0),
        ("step", 1),
        ("step", 2),
        ("end", 3),
    ]
    assert decoy.read_text() == '{"mode": "decoy"}\n'  # nothing written through the link


def test_fifo_as_trace_file_is_refused_on_resume(
    write_scenario: Callable[..., Path], simba_cli: Cli, tmp_path: Path
) -> None:
    """A named pipe put in place of .simba/trace.jsonl makes --resume refuse it at once (exit 2)."""
    scenario = write_scenario([{"name": "a", "priority": 1, "command": str(MODULES / "exit3.sh")}])
    first = simba_cli("run", scenario, "-o", tmp_path / "runs", "--run-id", "r", timeout=60)
    assert first.returncode == 1, first.stderr
    trace = tmp_path / "runs" / "r" / ".simba" / "trace.jsonl"
    trace.unlink()
    os.mkfifo(trace)
    resumed = simba_cli("run", "--resume", tmp_path / "runs" / "r", timeout=30)
    assert resumed.returncode == 2, resumed.stderr
    assert "Traceback" not in resumed.stderr
    assert f"{trace} is damaged (it is a named pipe (FIFO)" in resumed.stderr


@pytest.mark.parametrize("mode", ["rb", "r+b", "ab"])
def test_simba_own_files_never_open_a_named_pipe(tmp_path: Path, mode: str) -> None:
    """The trace, the service logs and output files are opened without waiting on a FIFO."""
    from simba.engine.service_log import ServiceLog
    from simba.jsonfile import open_regular
    from simba.output import read_module_lines

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(OSError, match="named pipe"):
        open_regular(fifo, mode)  # type: ignore[arg-type]
    with pytest.raises(OSError, match="named pipe"):
        ServiceLog(fifo).open()
    assert read_module_lines(fifo) == ()
