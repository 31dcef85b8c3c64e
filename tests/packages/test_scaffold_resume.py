"""The modules ``simba module new`` writes are idempotent: a step run again, or a run
killed and resumed, leaves the same output as one uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import launch, sigkill_and_resume, wait_for

Cli = Callable[..., subprocess.CompletedProcess[str]]

SOURCES = {"python": "module.py", "sh": "module.sh"}


def scaffold(simba_cli: Cli, tmp_path: Path, lang: str, days: int) -> Path:
    """A new module whose sample scenario runs ``days`` one-day ticks; its scenario.json."""
    assert simba_cli("module", "new", "lab/counter", "--lang", lang).returncode == 0
    scenario = tmp_path / "counter" / "scenario.json"
    document = json.loads(scenario.read_text())
    document["driver"]["endTime"] = f"P{days}D"
    scenario.write_text(json.dumps(document))
    return scenario


def size_of(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def steps_log(run_dir: Path) -> str:
    return (run_dir / "modules" / "counter" / "log" / "steps.log").read_text()


@pytest.mark.parametrize("lang", ["python", "sh"])
def test_scaffold_step_run_again_writes_the_same_log(
    tmp_path: Path, simba_cli: Cli, lang: str
) -> None:
    """The last step, run twice more on the finished log (as a resume does), changes nothing."""
    scenario = scaffold(simba_cli, tmp_path, lang, days=3)
    assert simba_cli("run", scenario, "--run-id", "r").returncode == 0
    run_dir = tmp_path / "runs" / "r"
    expected = steps_log(run_dir)
    assert expected == "0 -> 1\n1 -> 2\n2 -> 3\n"
    config = json.loads((run_dir / "3" / "module_1.json").read_text())
    assert (config["mode"], config["currentTick"]) == ("step", 2)
    copy = tmp_path / "again"
    copy.mkdir()
    (copy / "steps.log").write_text(expected)
    config["statusFile"] = str(copy / "status.json")
    (copy / "config.json").write_text(json.dumps(config, indent=2))
    module = tmp_path / "counter" / SOURCES[lang]
    command = [sys.executable, str(module)] if lang == "python" else [str(module)]
    for _ in range(2):
        subprocess.run(
            [*command, str(copy / "config.json")],
            env={**os.environ, "MODULE_LOG_DIR": str(copy)},
            check=True,
            timeout=60,
        )
        assert (copy / "steps.log").read_text() == expected
    assert sorted(p.name for p in copy.iterdir()) == ["config.json", "status.json", "steps.log"]


@pytest.mark.parametrize("lang", ["python", "sh"])
def test_scaffold_killed_and_resumed_gives_the_same_log(
    tmp_path: Path, simba_cli: Cli, lang: str
) -> None:
    """SIGKILL three times at random moments, then --resume: steps.log is the plain run's."""
    days = 40 if lang == "python" else 150
    scenario = scaffold(simba_cli, tmp_path, lang, days=days)
    assert simba_cli("run", scenario, "--run-id", "plain").returncode == 0
    expected = steps_log(tmp_path / "runs" / "plain")
    assert expected.splitlines() == [f"{tick} -> {tick + 1}" for tick in range(days)]
    run_dir = tmp_path / "runs" / "killed"
    kills = sigkill_and_resume(
        ["run", scenario, "--run-id", "killed"],
        run_dir,
        kills=3,
        cwd=tmp_path,
        pause=(0.2, 0.8),
        seed=18,
    )
    assert kills >= 1
    assert steps_log(run_dir) == expected


@pytest.mark.parametrize("lang", ["python", "sh"])
def test_scaffold_interrupted_by_ctrl_c_and_resumed_gives_the_same_log(
    tmp_path: Path, simba_cli: Cli, lang: str
) -> None:
    """SIGINT (Ctrl-C) mid-run (exit 130) twice, then --resume: the same steps.log."""
    days = 40 if lang == "python" else 150
    scenario = scaffold(simba_cli, tmp_path, lang, days=days)
    assert simba_cli("run", scenario, "--run-id", "plain").returncode == 0
    run_dir = tmp_path / "runs" / "stopped"
    command: list[str | Path] = ["run", scenario, "--run-id", "stopped"]
    interrupted = 0
    for pause in (0.4, 0.6):
        trace = run_dir / ".simba" / "trace.jsonl"
        size = size_of(trace)
        process = launch(*command, cwd=tmp_path)
        wait_for(run_dir / ".simba" / "checkpoint.json", process)
        while process.poll() is None and size_of(trace) <= size:
            time.sleep(0.01)  # until this driver records a call: its Ctrl-C handler is set
        time.sleep(pause)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
        assert process.returncode in (0, 130), stderr  # 0: it had finished before Ctrl-C
        if process.returncode == 0:
            break
        interrupted += 1
        command = ["run", "--resume", run_dir]
    else:
        assert simba_cli(*command).returncode == 0
    assert interrupted >= 1
    assert steps_log(run_dir) == steps_log(tmp_path / "runs" / "plain")
