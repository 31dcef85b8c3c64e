"""Resuming runs: SIGKILL chaos, atomic checkpoints, refusals and continueFromTick (DESIGN §8).

Every test drives ``python -m simba`` as a real process and kills it with real signals;
the modules are the small executables ``tests/modules/rel_*``.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import MODULES, final_state, launch, run_processes, sigkill_and_resume, wait_for

from simba.engine.journal import read_trace

MODEL = str(MODULES / "rel_model.py")

Cli = Callable[..., subprocess.CompletedProcess[str]]


# -- helpers ------------------------------------------------------------------------------


def driver(days: int, **fields: Any) -> dict[str, Any]:
    """A driver section with daily ticks 0..days."""
    return {
        "initialTime": "2024-01-01T00:00:00",
        "endTime": f"P{days}D",
        "scheduleIntervals": [{"tickDuration": "P1D"}],
        **fields,
    }


def model(key: str, priority: int, sleep: tuple[float, float] = (0, 0)) -> dict[str, Any]:
    """A rel_model.py schedule entry that owns commonData[key]."""
    return {
        "name": key,
        "priority": priority,
        "command": MODEL,
        "updateCommonData": True,
        "moduleData": {"key": key, "sleep": list(sleep)},
    }


def two_models(sleep: tuple[float, float] = (0, 0), **common: Any) -> dict[str, Any]:
    """A schedule of models a (first) and b, each reading the other's commonData key."""
    return {
        "schedule": [model("a", 2, sleep), model("b", 1, sleep)],
        "commonData": {"a": 0, "b": 0, **common},
    }


def kill(process: subprocess.Popen[str]) -> None:
    """SIGKILL the driver process and reap it."""
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=30)


def successes(run_dir: Path) -> list[tuple[str, str, int]]:
    """(module, mode, tick) of every successful call in trace.jsonl, in order."""
    trace = read_trace(run_dir / ".simba" / "trace.jsonl")
    return [(r["module"], r["mode"], r["tick"]) for r in trace if r["outcome"] == "success"]


def invocations(log: Path) -> list[tuple[str, str, int]]:
    """(module, mode, tick) of every call rel_model.py logged to REL_LOG."""
    if not log.exists():
        return []
    return [(k, m, int(t)) for k, m, t in (line.split() for line in log.read_text().splitlines())]


def check_checkpoint(run_dir: Path) -> None:
    """checkpoint.json, if present, is one complete JSON document of the expected shape."""
    path = run_dir / ".simba" / "checkpoint.json"
    if path.exists():
        document = json.loads(path.read_bytes())
        assert {"format", "fingerprint", "position", "traceOffset", "modules"} <= set(document)


# -- SIGKILL chaos ------------------------------------------------------------------------

CHAOS_KILLS = 5


def test_sigkill_chaos_resume_matches_uninterrupted_run(
    write_scenario: Callable[..., Path], simba_cli: Cli, tmp_path: Path
) -> None:
    """A run SIGKILLed at random moments and resumed each time ends exactly like an unbroken run."""
    scenario = write_scenario(two_models(sleep=(0.005, 0.025)), driver(40))
    out = tmp_path / "runs"
    reference = simba_cli("run", scenario, "-o", out, "--run-id", "reference")
    assert reference.returncode == 0, reference.stderr
    run_dir = (out / "chaos").resolve()

    args = ["run", scenario, "-o", out, "--run-id", "chaos"]
    kills = sigkill_and_resume(
        args, run_dir, kills=CHAOS_KILLS, cwd=tmp_path, pause=(0.1, 1.0), seed=20240601
    )
    assert kills == CHAOS_KILLS, "the run finished before it could be killed often enough"
    assert final_state(run_dir) == final_state(out / "reference")
    assert successes(run_dir) == successes(out / "reference")
    assert len(successes(run_dir)) == 2 + 2 * 40 + 2
    assert run_processes(run_dir) == []


def test_checkpoint_always_parses_after_sigkill(
    write_scenario: Callable[..., Path], tmp_path: Path
) -> None:
    """checkpoint.json is complete JSON after every SIGKILL, even with a large commonData."""
    blob = list(range(80_000))  # half a MB of commonData: checkpoints take a while to write
    scenario = write_scenario(two_models(blob=blob), driver(8))
    out = tmp_path / "runs"
    run_dir = (out / "atomic").resolve()
    rng = random.Random(7)
    args: list[str | os.PathLike[str]] = ["run", scenario, "-o", out, "--run-id", "atomic"]
    for kill_number in range(6):
        process = launch(*args, cwd=tmp_path)
        if kill_number == 0:
            wait_for(run_dir / ".simba" / "checkpoint.json", process)
        try:
            process.wait(rng.uniform(0.2, 0.7))
        except subprocess.TimeoutExpired:
            kill(process)
        else:  # finished before this kill
            assert process.returncode == 0, process.communicate()[1]
            break
        for name in ("checkpoint.json", "run.json", "summary.json"):
            if (run_dir / ".simba" / name).exists():
                json.loads((run_dir / ".simba" / name).read_bytes())
        check_checkpoint(run_dir)
        args = ["run", "--resume", run_dir]
    result = subprocess.run(
        [sys.executable, "-m", "simba", "run", "--resume", run_dir],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    common, _ = final_state(run_dir)
    assert common["blob"] == blob
    assert json.loads((run_dir / ".simba" / "checkpoint.json").read_bytes())["position"] == {
        "mode": "done",
        "tick": 8,
    }


# -- resume refusals ----------------------------------------------------------------------


EDITS = {"driver.json": ('"P1D"', '"PT24H"'), "schedule.json": ('"priority": 1', '"priority": 0')}


@pytest.mark.parametrize("changed", list(EDITS))
def test_resume_refuses_changed_scenario(
    write_scenario: Callable[..., Path], simba_cli: Cli, tmp_path: Path, changed: str
) -> None:
    """Resuming after a scenario file changed exits 2 naming that file and touches nothing."""
    scenario = write_scenario(two_models(), driver(2))
    out = tmp_path / "runs"
    assert simba_cli("run", scenario, "-o", out, "--run-id", "r").returncode == 0
    run_dir = out / "r"
    before = {p: p.read_bytes() for p in (run_dir / ".simba").iterdir() if p.is_file()}
    path = scenario / changed
    old, new = EDITS[changed]
    assert old in path.read_text()
    path.write_text(path.read_text().replace(old, new))
    result = simba_cli("run", "--resume", run_dir)
    assert result.returncode == 2, result.stderr
    assert str(path) in result.stderr
    assert "changed since the run started" in result.stderr
    assert "Traceback" not in result.stderr
    assert {p: p.read_bytes() for p in before} == before


def test_resume_of_finished_run_runs_nothing(
    write_scenario: Callable[..., Path], simba_cli: Cli, tmp_path: Path
) -> None:
    """Resuming a run that already finished exits 0 without calling any module."""
    scenario = write_scenario(two_models(), driver(2))
    out = tmp_path / "runs"
    assert simba_cli("run", scenario, "-o", out, "--run-id", "r").returncode == 0
    run_dir = out / "r"
    trace = (run_dir / ".simba" / "trace.jsonl").read_bytes()
    state = final_state(run_dir)
    log = tmp_path / "calls.log"
    result = simba_cli("run", "--resume", run_dir, env={"REL_LOG": str(log)})
    assert result.returncode == 0, result.stderr
    assert invocations(log) == []
    assert (run_dir / ".simba" / "trace.jsonl").read_bytes() == trace
    assert final_state(run_dir) == state


@pytest.mark.parametrize("kind", ["empty", "missing", "scenario", "no-run-json"])
def test_resume_of_non_run_directory_exits_2(
    write_scenario: Callable[..., Path], simba_cli: Cli, tmp_path: Path, kind: str
) -> None:
    """--resume of a directory that is not a SIMBA run exits 2 naming the directory."""
    target = tmp_path / "target"
    if kind == "empty":
        target.mkdir()
    elif kind == "scenario":
        target = write_scenario(two_models(), driver(3))
    elif kind == "no-run-json":
        (target / ".simba").mkdir(parents=True)
    result = simba_cli("run", "--resume", target)
    assert result.returncode == 2, result.stderr
    assert str(target.resolve()) in result.stderr
    assert "Traceback" not in result.stderr


# -- continueFromTick ---------------------------------------------------------------------

CONTINUE_AT = 5


def _continuation(write_scenario: Callable[..., Path], out: Path) -> tuple[Path, Path]:
    """A finished 8-tick run X and a copy of its scenario with continueFromTick 5."""
    full = write_scenario(two_models(), driver(8, runId="X", outputDirectory=str(out)), "full")
    result = subprocess.run(
        [sys.executable, "-m", "simba", "run", full],
        cwd=out.parent,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    later = driver(8, runId="X", outputDirectory=str(out), continueFromTick=CONTINUE_AT)
    return full, write_scenario(two_models(), later, "continued")


def test_continue_from_tick_skips_earlier_calls(
    write_scenario: Callable[..., Path], simba_cli: Cli, tmp_path: Path
) -> None:
    """continueFromTick N executes only the calls from N on, and ends in the full run's state."""
    out = tmp_path / "runs"
    _, continued = _continuation(write_scenario, out)
    full_state = final_state(out / "X")
    log = tmp_path / "calls.log"
    result = simba_cli("run", continued, env={"REL_LOG": str(log)})
    assert result.returncode == 0, result.stderr
    steps = [(key, "step", tick) for tick in range(CONTINUE_AT, 8) for key in ("a", "b")]
    assert invocations(log) == [*steps, ("a", "end", 8), ("b", "end", 8)]
    assert final_state(out / "X") == full_state


def test_continue_from_tick_missing_status_exits_2(
    write_scenario: Callable[..., Path], simba_cli: Cli, tmp_path: Path
) -> None:
    """A status file missing for a call before N stops the continuation with exit 2 naming it."""
    out = tmp_path / "runs"
    _, continued = _continuation(write_scenario, out)
    (out / "X" / "4" / "status_2.json").unlink()  # module b's step at tick 3
    log = tmp_path / "calls.log"
    result = simba_cli("run", continued, env={"REL_LOG": str(log)})
    assert result.returncode == 2, result.stderr
    assert "'b'" in result.stderr
    assert "tick 3" in result.stderr
    assert "Traceback" not in result.stderr
    assert invocations(log) == []


def test_killed_continuation_resumes_without_earlier_calls(
    write_scenario: Callable[..., Path], tmp_path: Path
) -> None:
    """A continueFromTick run SIGKILLed and resumed still never executes a call before N."""
    out = tmp_path / "runs"
    _, continued = _continuation(write_scenario, out)
    full_state = final_state(out / "X")
    hold = tmp_path / "hold"
    hold.mkdir()
    process = launch(
        "run", continued, cwd=tmp_path, REL_HOLD_DIR=str(hold), REL_HOLD_TICK=str(CONTINUE_AT)
    )
    wait_for(hold / "held-a", process)
    kill(process)
    log = tmp_path / "calls.log"
    result = subprocess.run(
        [sys.executable, "-m", "simba", "run", "--resume", out / "X"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "REL_LOG": str(log)},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert [call for call in invocations(log) if call[2] < CONTINUE_AT] == []
    assert ("a", "step", CONTINUE_AT) in invocations(log)  # the call cut off runs again
    assert final_state(out / "X") == full_state
    assert run_processes(out / "X") == []


def test_resumed_call_keeps_no_stale_output_and_its_failure_counts(
    write_scenario: Callable[..., Path], simba_cli: Callable[..., Any], tmp_path: Path
) -> None:
    """After a failed step is resumed and succeeds, its directory holds only the new output,
    and the summary still counts the failed attempt."""
    data = {
        "onTick": 2,
        "onMode": "step",
        "counter": str(tmp_path / "counter"),
        "attempts": [{"exit": 3, "stderr": ["first attempt went wrong"], "noStatus": True}],
    }
    scenario = write_scenario(
        [{"name": "a", "priority": 1, "command": str(MODULES / "scripted.py"), "moduleData": data}]
    )
    run_dir = tmp_path / "runs" / "r"
    failed = simba_cli("run", scenario, "-o", tmp_path / "runs", "--run-id", "r")
    assert failed.returncode == 1, failed.stderr
    assert "first attempt went wrong" in (run_dir / "3" / "stderr_1").read_text()
    resumed = simba_cli("run", "--resume", run_dir)
    assert resumed.returncode == 0, resumed.stderr
    stale = run_dir / "3" / "stderr_1"
    assert not stale.exists() or "went wrong" not in stale.read_text()
    module = json.loads((run_dir / ".simba" / "summary.json").read_text())["modules"]["a"]
    assert (module["calls"], module["failures"]) == (6, 1)  # 5 calls succeeded, 1 attempt failed
