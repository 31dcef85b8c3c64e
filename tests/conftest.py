"""Shared fixtures: real module executables, scenario writers, and the simba CLI as a process."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from simba import events

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
MODULES = TESTS / "modules"
EXAMPLES = ROOT / "examples"
#: The reference simbaDriver's own scenario and schema files: SIMBA_REFERENCE, or the
#: ``shared/reference`` folder beside the checkout (where this project's machines have it).
REFERENCE = Path(os.environ.get("SIMBA_REFERENCE") or ROOT.parent / "shared" / "reference")
#: For tests that run the reference's original files: skipped, with the reason, without them.
requires_reference = pytest.mark.skipif(
    not (REFERENCE / "examples").is_dir(),
    reason=f"the reference simbaDriver's files are not at {REFERENCE}; "
    "set SIMBA_REFERENCE to their folder to run this test",
)
#: The project's own scenario directories in the reference's layout (tests/compat/scenarios:
#: local/, slurm/, bin/application.sh, modules/), written afresh: always there.
OWN_EXAMPLES = TESTS / "compat" / "scenarios"
#: Where reference-format examples come from: ours always, the reference's own when found.
EXAMPLE_SOURCES = (
    pytest.param(OWN_EXAMPLES, id="own"),
    pytest.param(REFERENCE / "examples", id="reference", marks=requires_reference),
)


def copy_example(examples: Path, kind: str, base: Path) -> Path:
    """``base/examples/<kind>`` from ``examples``, with the ``../bin/application.sh`` it runs.

    Ours brings its program; for the reference's (whose program needs jq) it is ok.sh.
    """
    target = base / "examples" / kind
    shutil.copytree(examples / kind, target)
    (base / "examples" / "bin").mkdir(exist_ok=True)
    program = examples / "bin" / "application.sh"
    source = program if program.is_file() else MODULES / "ok.sh"
    shutil.copy(source, target.parent / "bin" / "application.sh")
    return target


#: A driver section that gives ticks 0..3 of one day each.
SMALL_DRIVER: dict[str, Any] = {
    "initialTime": "2024-01-01T00:00:00",
    "endTime": "2024-01-04T00:00:00",
    "scheduleIntervals": [{"tickDuration": "P1D"}],
}


@pytest.fixture
def modules_dir() -> Path:
    """The directory of the small real module executables used by the tests."""
    return MODULES


@pytest.fixture
def write_scenario(tmp_path: Path) -> Callable[..., Path]:
    """Write driver.json + schedule.json into a fresh directory and return the directory.

    ``schedule`` may be a list (the module specs) or a full schedule document.
    """
    counter = iter(range(1_000_000))

    def write(
        schedule: list[dict[str, Any]] | dict[str, Any],
        driver: dict[str, Any] | None = None,
        name: str | None = None,
    ) -> Path:
        directory = tmp_path / (name or f"scenario{next(counter)}")
        directory.mkdir(parents=True, exist_ok=True)
        document = schedule if isinstance(schedule, dict) else {"schedule": schedule}
        (directory / "driver.json").write_text(json.dumps(driver or SMALL_DRIVER, indent=2))
        (directory / "schedule.json").write_text(json.dumps(document, indent=2))
        return directory

    return write


def run_cli(
    *args: str | os.PathLike[str],
    cwd: Path,
    timeout: float = 120,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m simba ARGS`` as a real process and capture its output."""
    return subprocess.run(
        [sys.executable, "-m", "simba", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )


@pytest.fixture
def simba_cli(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run the simba CLI as a process; the working directory defaults to tmp_path."""

    def call(
        *args: str | os.PathLike[str], cwd: Path | None = None, **kwargs: Any
    ) -> subprocess.CompletedProcess[str]:
        return run_cli(*args, cwd=cwd or tmp_path, **kwargs)

    return call


def launch(*args: str | os.PathLike[str], cwd: Path, **env: str) -> subprocess.Popen[str]:
    """Start ``python -m simba ARGS`` as a real process (stdout discarded, stderr kept)."""
    return subprocess.Popen(
        [sys.executable, "-m", "simba", *map(str, args)],
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **env},
    )


def wait_for(path: Path, process: subprocess.Popen[str], timeout: float = 30) -> None:
    """Wait until ``path`` exists, failing if ``process`` ends first."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, f"simba exited ({process.returncode}) before {path}"
        assert time.monotonic() < deadline, f"{path} did not appear within {timeout} s"
        time.sleep(0.01)


def sigkill_and_resume(
    args: Sequence[str | os.PathLike[str]],
    run_dir: Path,
    *,
    kills: int,
    cwd: Path,
    pause: tuple[float, float],
    seed: int,
) -> int:
    """Run ``simba ARGS`` and SIGKILL it ``kills`` times at random moments (a pause drawn
    from ``pause`` after each start), resuming ``run_dir`` each time, then let it finish.

    Each kill must leave a checkpoint that parses; the last driver must exit 0.  Returns
    the number of kills made (fewer if the run finished first).
    """
    rng = random.Random(seed)
    command = list(args)
    made = 0
    while True:
        process = launch(*command, cwd=cwd)
        if made == 0:  # before its first checkpoint a run has nothing to resume
            wait_for(run_dir / ".simba" / "checkpoint.json", process)
        if made < kills:
            try:
                process.wait(rng.uniform(*pause))
            except subprocess.TimeoutExpired:
                process.send_signal(signal.SIGKILL)
                process.communicate(timeout=30)
                made += 1
                checkpoint = json.loads((run_dir / ".simba" / "checkpoint.json").read_bytes())
                assert {"format", "fingerprint", "position", "traceOffset", "modules"} <= set(
                    checkpoint
                )
                command = ["run", "--resume", run_dir, *_options(args)]
                continue
        _, stderr = process.communicate(timeout=120)
        assert process.returncode == 0, stderr
        return made


def _options(args: Sequence[str | os.PathLike[str]]) -> list[str | os.PathLike[str]]:
    """The options of a ``run`` command line that a resume must repeat (``-j N``)."""
    words = list(args)
    return words[words.index("-j") : words.index("-j") + 2] if "-j" in words else []


def final_state(run_dir: Path) -> tuple[Any, dict[str, Any]]:
    """commonData and every module's moduleData from summary.json (which must say success)."""
    summary = json.loads((run_dir / ".simba" / "summary.json").read_text())
    assert summary["outcome"] == "success", summary["error"]
    return summary["commonData"], {n: m["moduleData"] for n, m in summary["modules"].items()}


#: Runs ARGS with stdout and stderr discarded; prints the peak RSS (KiB) of its children.
_MEASURE = (
    "import resource, subprocess, sys; "
    "code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, "
    "stderr=subprocess.DEVNULL).returncode; "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(code)"
)


def run_simba_measured(*args: str | os.PathLike[str], cwd: Path) -> tuple[int, float]:
    """Run ``python -m simba ARGS``; its exit status and peak memory in MB.

    A child started from this (large) pytest process would report pytest's peak as its
    own (Linux keeps the pre-exec high-water mark), so a small Python process starts
    simba and reads the peak of its children.
    """
    measured = subprocess.run(
        [sys.executable, "-c", _MEASURE, sys.executable, "-m", "simba", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    return measured.returncode, int(measured.stdout.split()[-1]) / 1024


def run_processes(run_dir: Path, settle: float = 2.0) -> list[int]:
    """PIDs of live processes whose environment says SIMBA_RUN_DIR=<run_dir> (after a settle)."""
    marker = f"SIMBA_RUN_DIR={run_dir.resolve()}".encode()
    deadline = time.monotonic() + settle
    while True:
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                environ = (entry / "environ").read_bytes()
            except OSError:
                continue
            if marker in environ.split(b"\0"):
                found.append(int(entry.name))
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def process_gone(pid: int) -> bool:
    """Whether ``pid`` has exited (a zombie awaiting a reaper counts as gone)."""
    try:
        with Path(f"/proc/{pid}/stat").open() as handle:
            state = handle.read().rpartition(")")[2].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")


def _compact(event: events.Event) -> tuple[Any, ...]:
    """The facts of an event that a scenario test compares: kind first, no times or paths."""
    kind = type(event).__name__
    if isinstance(event, events.TickStarted):
        return (kind, event.mode, event.tick)
    if isinstance(event, events.CallStarted):
        return (kind, event.module, event.mode, event.tick)
    if isinstance(event, events.CallFinished):
        return (kind, event.module, event.mode, event.tick, event.outcome)
    if isinstance(event, events.ModuleLine):
        return (kind, event.module, event.tick, event.level, event.text)
    if isinstance(event, events.ServiceStarted):
        return (kind, event.module)
    if isinstance(event, events.ServiceStats):
        return (kind, event.module, event.jobs_completed)
    if isinstance(event, events.RunWarning):
        return (kind, event.module, event.message)
    if isinstance(event, events.RunFinished):
        return (kind, event.outcome)
    return (kind,)


class Recorder:
    """An observer that keeps every event the engine emits, in order (for scenario tests).

    Pass it as ``observers=[recorder]``; ``recorder.events`` holds the events and
    ``recorder.sequence()`` their compact form, e.g. ``[("RunStarted",), ("TickStarted",
    "start", 0), ("CallStarted", "mod", "start", 0), ...]``.
    """

    def __init__(self) -> None:
        self.events: list[events.Event] = []

    def __call__(self, event: events.Event) -> None:
        self.events.append(event)

    def sequence(self, *kinds: type[events.Event]) -> list[tuple[Any, ...]]:
        """The compact events, only those of ``kinds`` if any are given."""
        return [_compact(e) for e in self.events if not kinds or isinstance(e, kinds)]

    def of(self, *kinds: type[events.Event]) -> list[events.Event]:
        """The events of ``kinds``, in order."""
        return [e for e in self.events if isinstance(e, kinds)]


@pytest.fixture
def recorder() -> Recorder:
    """A recording observer: pass it to ``simba.run(..., observers=[recorder])``."""
    return Recorder()
