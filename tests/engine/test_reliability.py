"""Reliability of a run: signals, the run-directory lock and module faults, with real processes.

``tests/engine/test_engine.py`` covers the basic failure messages; this file covers what a run
survives: SIGTERM/SIGINT (also against a module that ignores SIGTERM), a second driver in
the same run directory, modules that vandalise their files, flood stdout or fail
intermittently, and the default timeout.
"""

from __future__ import annotations

import itertools
import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import MODULES, launch, run_processes, run_simba_measured, wait_for

from simba.engine.attempts import BACKOFF
from simba.engine.journal import read_trace
from simba.process import GRACE_PERIOD

MODEL = str(MODULES / "rel_model.py")

Cli = Callable[..., subprocess.CompletedProcess[str]]


# -- helpers ------------------------------------------------------------------------------


def driver(days: int) -> dict[str, Any]:
    """A driver section with daily ticks 0..days."""
    return {
        "initialTime": "2024-01-01T00:00:00",
        "endTime": f"P{days}D",
        "scheduleIntervals": [{"tickDuration": "P1D"}],
    }


def model(key: str, priority: int, **fields: Any) -> dict[str, Any]:
    """A rel_model.py schedule entry that owns commonData[key]."""
    return {
        "name": key,
        "priority": priority,
        "command": MODEL,
        "updateCommonData": True,
        "moduleData": {"key": key},
        **fields,
    }


def two_models() -> dict[str, Any]:
    """A schedule of models a (first) and b, each reading the other's commonData key."""
    return {"schedule": [model("a", 2), model("b", 1)], "commonData": {"a": 0, "b": 0}}


def summary_of(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / ".simba" / "summary.json").read_text())


def final_state(run_dir: Path) -> tuple[Any, dict[str, Any]]:
    """commonData and every module's moduleData of a successful run, from summary.json."""
    summary = summary_of(run_dir)
    assert summary["outcome"] == "success", summary["error"]
    return summary["commonData"], {n: m["moduleData"] for n, m in summary["modules"].items()}


def successes(run_dir: Path) -> list[tuple[object, object, object]]:
    """(module, mode, tick) of every successful call in trace.jsonl, in order."""
    trace = read_trace(run_dir / ".simba" / "trace.jsonl")
    return [(r["module"], r["mode"], r["tick"]) for r in trace if r["outcome"] == "success"]


def alive(pid: int) -> bool:
    """Whether ``pid`` is a process that has not terminated (zombies count as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


# -- signals ------------------------------------------------------------------------------

SIGNAL_CASES = {
    "SIGTERM": (signal.SIGTERM, False, 143),
    "SIGTERM-ignored-by-module": (signal.SIGTERM, True, 143),
    "SIGINT": (signal.SIGINT, False, 130),
}


@pytest.mark.parametrize("case", list(SIGNAL_CASES), ids=list(SIGNAL_CASES))
def test_signal_stops_run_and_resume_completes_it(
    write_scenario: Callable[..., Path], simba_cli: Cli, tmp_path: Path, case: str
) -> None:
    """A signal stops the modules within the grace, checkpoints, exits 128+n; resume finishes."""
    signum, ignore_term, code = SIGNAL_CASES[case]
    scenario = write_scenario(two_models(), driver(6))
    out = tmp_path / "runs"
    assert simba_cli("run", scenario, "-o", out, "--run-id", "reference").returncode == 0
    run_dir = (out / "r").resolve()
    hold = tmp_path / "hold"
    hold.mkdir()
    process = launch(
        "run",
        scenario,
        "-o",
        out,
        "--run-id",
        "r",
        cwd=tmp_path,
        REL_HOLD_DIR=str(hold),
        REL_HOLD_TICK="3",
        REL_IGNORE_TERM="1" if ignore_term else "0",
    )
    wait_for(hold / "held-a", process)
    module_pid, grandchild_pid = map(int, (hold / "held-a").read_text().split())
    sent = time.monotonic()
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=GRACE_PERIOD + 20)
    elapsed = time.monotonic() - sent
    assert process.returncode == code, stderr
    if ignore_term:  # SIGTERM did nothing: SIGKILL after the grace period
        assert GRACE_PERIOD - 0.5 < elapsed < GRACE_PERIOD + 3, elapsed
    else:
        assert elapsed < GRACE_PERIOD, elapsed
    assert f"--resume {run_dir}" in stderr
    assert "Traceback" not in stderr
    assert not alive(module_pid)
    assert not alive(grandchild_pid)
    assert run_processes(run_dir) == []
    assert summary_of(run_dir)["outcome"] == "interrupted"
    checkpoint = json.loads((run_dir / ".simba" / "checkpoint.json").read_text())
    assert checkpoint["position"]["mode"] in ("start", "step")
    assert checkpoint["position"]["tick"] <= 3

    resumed = simba_cli("run", "--resume", run_dir)
    assert resumed.returncode == 0, resumed.stderr
    assert final_state(run_dir) == final_state(out / "reference")
    assert successes(run_dir) == successes(out / "reference")


# -- the run-directory lock -----------------------------------------------------------------


def test_second_driver_in_same_run_directory_refused(
    write_scenario: Callable[..., Path], simba_cli: Cli, tmp_path: Path
) -> None:
    """While a run works, --resume or --overwrite of its directory exits 2 and changes nothing."""
    scenario = write_scenario(two_models(), driver(4))
    out = tmp_path / "runs"
    run_dir = (out / "r").resolve()
    hold = tmp_path / "hold"
    hold.mkdir()
    args = ("run", scenario, "-o", out, "--run-id", "r")
    process = launch(*args, cwd=tmp_path, REL_HOLD_DIR=str(hold), REL_HOLD_TICK="2")
    try:
        wait_for(hold / "held-a", process)
        trace = (run_dir / ".simba" / "trace.jsonl").read_bytes()
        for second in (("run", "--resume", run_dir), (*args, "--overwrite")):
            result = simba_cli(*second)
            assert result.returncode == 2, result.stderr
            assert str(run_dir) in result.stderr
            assert "in use by another simba process" in result.stderr
            assert (run_dir / ".simba" / "trace.jsonl").read_bytes() == trace
            assert (run_dir / "3" / "module_1.json").exists()  # the held call's config
        (hold / "release").touch()
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, stderr
    assert summary_of(run_dir)["outcome"] == "success"
    # Once the first driver has finished, the directory is free again.
    assert simba_cli("run", "--resume", run_dir).returncode == 0


# -- module faults --------------------------------------------------------------------------


def test_module_deleting_its_config_file_is_harmless(
    write_scenario: Callable[..., Path], simba_cli: Cli, tmp_path: Path
) -> None:
    """A module that deletes its own config file but reports success does not upset the run."""
    command = [str(MODULES / "rel_vandal.sh"), "config"]
    scenario = write_scenario([{"name": "v", "priority": 1, "command": command}])
    result = simba_cli("run", scenario, "-o", tmp_path / "runs", "--run-id", "r")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "runs" / "r" / "0" / "module_1.json").exists()
    assert summary_of(tmp_path / "runs" / "r")["calls"] == 5


def test_module_deleting_its_call_directory_fails_clearly(
    write_scenario: Callable[..., Path], simba_cli: Cli, tmp_path: Path
) -> None:
    """A module that deletes its call directory, then prints, fails with a message, not a crash."""
    command = [str(MODULES / "rel_vandal.sh"), "dir"]
    scenario = write_scenario([{"name": "v", "priority": 1, "command": command}])
    run_dir = tmp_path / "runs" / "r"
    result = simba_cli("run", scenario, "-o", tmp_path / "runs", "--run-id", "r")
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "module 'v' (start call at tick 0)" in result.stderr
    assert "wrote no status file" in result.stderr
    assert "vandal: and said so on stderr" in result.stderr
    assert (run_dir / "0" / "stdout_1").read_text() == "vandal: removed my call directory\n"
    summary = summary_of(run_dir)
    assert summary["outcome"] == "failed"
    assert json.loads((run_dir / ".simba" / "checkpoint.json").read_text())["position"] == {
        "mode": "start",
        "tick": 0,
    }


def test_200_mb_of_stdout_keeps_driver_memory_small(
    write_scenario: Callable[..., Path], tmp_path: Path
) -> None:
    """A module piping 200 MB of lines to stdout succeeds while the driver stays under 150 MB."""
    size = 200_000_000
    command = str(MODULES / "rel_flood.sh")
    scenario = write_scenario([{"name": "flood", "priority": 1, "command": command}], driver(1))
    # The peak covers simba and the children it reaped: sh, yes and head are each a few
    # MB, so the figure is the driver's own.
    returncode, peak_mb = run_simba_measured(
        "run", scenario, "-o", tmp_path / "runs", "--run-id", "r", cwd=tmp_path
    )
    assert returncode == 0
    for directory in ("0", "1", "end"):
        assert (tmp_path / "runs" / "r" / directory / "stdout_1").stat().st_size == size
    assert peak_mb < 150, f"the driver peaked at {peak_mb:.0f} MB"


#: Runs ``python -m simba ARGS`` with a 1 MB file size limit, as a full disk would stop it.
LIMITED = (
    "import os, resource, sys; resource.setrlimit(resource.RLIMIT_FSIZE, (10**6, 10**6)); "
    "os.execv(sys.executable, [sys.executable, '-m', 'simba', *sys.argv[1:]])"
)


def test_driver_write_error_is_a_failed_run_that_resume_recovers(
    write_scenario: Callable[..., Path], simba_cli: Cli, tmp_path: Path
) -> None:
    """A driver that cannot write a module's output fails clearly, and resume finishes."""
    entry = {
        "name": "flood",
        "priority": 1,
        "command": str(MODULES / "rel_flood.sh"),
        "tickIncrement": 0,
        "env": {"REL_FLOOD_BYTES": "3000000"},
    }
    scenario = write_scenario([entry], driver(1))
    run_dir = tmp_path / "runs" / "r"
    limited = subprocess.run(
        [sys.executable, "-c", LIMITED, "run", scenario, "-o", tmp_path / "runs", "--run-id", "r"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert limited.returncode == 1, limited.stderr
    assert "Traceback" not in limited.stderr
    assert "File too large" in limited.stderr and "--resume" in limited.stderr
    summary = summary_of(run_dir)
    assert summary["outcome"] == "failed"
    assert "cannot go on writing" in summary["error"]
    assert "File too large" in summary["error"]
    resumed = simba_cli("run", "--resume", run_dir)
    assert resumed.returncode == 0, resumed.stderr
    assert (run_dir / "0" / "stdout_1").stat().st_size == 3_000_000


def _flaky_scenario(write_scenario: Callable[..., Path], tmp_path: Path, retries: int) -> Path:
    state = tmp_path / f"flaky{retries}.count"
    entry = {
        "name": "flaky",
        "priority": 1,
        "command": str(MODULES / "rel_flaky.sh"),
        "retries": retries,
        "tickIncrement": 0,
        "env": {"REL_STATE": str(state)},
    }
    return write_scenario([entry])


def test_flaky_module_succeeds_on_third_attempt(
    write_scenario: Callable[..., Path], simba_cli: Cli, tmp_path: Path
) -> None:
    """With retries 2 a module failing twice succeeds; each attempt's output is kept apart."""
    scenario = _flaky_scenario(write_scenario, tmp_path, retries=2)
    result = simba_cli("run", scenario, "-o", tmp_path / "runs", "--run-id", "r")
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "flaky2.count.stale").exists(), "an attempt saw an earlier status"
    call_dir = tmp_path / "runs" / "r" / "0"
    assert sorted(p.name for p in call_dir.iterdir() if p.name.startswith("std")) == [
        "stderr_1.3",
        "stdout_1",
    ]
    assert (call_dir / "stdout_1").read_text() == "try 1\n"
    assert (call_dir / "stderr_1.3").read_text() == "try 3\n"
    start = read_trace(tmp_path / "runs" / "r" / ".simba" / "trace.jsonl")[:3]
    assert [(r["attempt"], r["outcome"]) for r in start] == [
        (1, "exit"),
        (2, "status"),
        (3, "success"),
    ]
    for n, (before, after) in enumerate(itertools.pairwise(start), start=1):
        pause = after["startedAt"] - before["startedAt"] - before["wallTime"]  # type: ignore[operator]
        assert pause >= BACKOFF * 2 ** (n - 1) * 0.95, (n, pause)


def test_flaky_module_fails_with_one_retry(
    write_scenario: Callable[..., Path], simba_cli: Cli, tmp_path: Path
) -> None:
    """With retries 1 the same module fails: its second attempt wrote no status of its own."""
    scenario = _flaky_scenario(write_scenario, tmp_path, retries=1)
    result = simba_cli("run", scenario, "-o", tmp_path / "runs", "--run-id", "r")
    assert result.returncode == 1
    assert "module 'flaky' (start call at tick 0)" in result.stderr
    assert "wrote no status file" in result.stderr
    assert not (tmp_path / "flaky1.count.stale").exists()
    assert (tmp_path / "flaky1.count").read_text() == "2\n"
    assert summary_of(tmp_path / "runs" / "r")["modules"]["flaky"]["failures"] == 2


def test_default_timeout_applies_to_modules_without_their_own_and_survives_resume(
    write_scenario: Callable[..., Path], simba_cli: Cli, tmp_path: Path
) -> None:
    """--timeout stops a module without its own timeout, not one with it, and --resume keeps it."""
    own = model("own", 2, timeout=20, moduleData={"key": "own", "sleep": [0.4, 0.4]})
    scenario = write_scenario(
        {"schedule": [own, model("plain", 1)], "commonData": {"own": 0, "plain": 0}}, driver(1)
    )
    hold = tmp_path / "hold"
    hold.mkdir()
    held = {"REL_HOLD_DIR": str(hold), "REL_HOLD_TICK": "0", "REL_HOLD_KEY": "plain"}
    run_dir = tmp_path / "runs" / "r"
    args = ("run", scenario, "-o", tmp_path / "runs", "--run-id", "r", "--timeout", "0.2")
    result = simba_cli(*args, env=held)
    assert result.returncode == 1, result.stderr
    assert "module 'plain' (step at tick 0) ran longer than its timeout of 0.2 s" in result.stderr
    resumed = simba_cli("run", "--resume", run_dir, env=held)  # the stored --timeout 0.2
    assert resumed.returncode == 1, resumed.stderr
    assert "timeout of 0.2 s" in resumed.stderr
    assert simba_cli("run", "--resume", run_dir).returncode == 0
    trace = read_trace(run_dir / ".simba" / "trace.jsonl")
    assert [r["outcome"] for r in trace if r["module"] == "own"] == ["success"] * 3
    assert [r["outcome"] for r in trace if r["module"] == "plain"] == [
        "success",
        "timeout",
        "timeout",
        "success",
        "success",
    ]
