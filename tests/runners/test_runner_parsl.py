"""The ``parsl`` type: calls as Parsl bash_apps on a HighThroughputExecutor + LocalProvider.

Every run here is a real ``simba`` process that starts a real DataFlowKernel, interchange
and worker pool on this machine; the tests look at what is left in /proc afterwards.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import pytest
from conftest import EXAMPLE_SOURCES, MODULES, copy_example, run_cli

Cli = Callable[..., subprocess.CompletedProcess[str]]
Writer = Callable[..., Path]

needs_parsl = pytest.mark.skipif(
    find_spec("parsl") is None, reason="Parsl is not installed (pip install 'simba-cosim[parsl]')"
)

#: Ticks 0..2 of one day each.
DRIVER = {
    "initialTime": "2024-01-01T00:00:00",
    "endTime": "2024-01-03T00:00:00",
    "scheduleIntervals": [{"tickDuration": "P1D"}],
}


#: A local executor with one worker: enough for these tests, and quicker to start.
ONE_WORKER = {"type": "HighThroughputExecutor", "max_workers": 1}


def parsl_spec(name: str, priority: float, command: str, **fields: Any) -> dict[str, Any]:
    """A type-parsl schedule entry, on a one-worker local executor unless ``fields`` say."""
    return {
        "name": name,
        "priority": priority,
        "command": command,
        "type": "parsl",
        "executor": ONE_WORKER,
        **fields,
    }


def live_processes(run_dir: Path) -> list[str]:
    """Live (not zombie) processes of the run's Parsl parts and modules, as "pid: command".

    Worker pools and module processes carry the run's markers in their environment; the
    interchange (whose process title hides its environment) holds its log in the run.
    """
    parsl_dir = run_dir / ".simba" / "parsl"
    markers = {f"SIMBA_PARSL_RUN={parsl_dir}".encode(), f"SIMBA_RUN_DIR={run_dir}".encode()}
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            state = (entry / "stat").read_text().rpartition(")")[2].split()[0]
            environment = set((entry / "environ").read_bytes().split(b"\0"))
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            files = [str(fd.readlink()) for fd in (entry / "fd").iterdir()]
        except (OSError, IndexError):
            continue
        holds = any(file.startswith(f"{parsl_dir}/") for file in files)
        if state != "Z" and (markers & environment or holds):
            found.append(f"{entry.name}: {command}")
    return found


def leftovers(run_dir: Path) -> list[str]:
    """The run's live processes, after giving SIGKILLs already sent up to 10 s to land."""
    deadline = time.monotonic() + 10
    found = live_processes(run_dir)
    while found and time.monotonic() < deadline:
        time.sleep(0.1)
        found = live_processes(run_dir)
    return found


def wait_for(path: Path, process: subprocess.Popen[str], limit: float = 120) -> None:
    """Wait until ``path`` exists; fail if the process ends first or ``limit`` seconds pass."""
    deadline = time.monotonic() + limit
    while not path.exists():
        if process.poll() is not None:
            output, errors = process.communicate()
            pytest.fail(f"simba ended early ({process.returncode}): {output}\n{errors}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"{path} did not appear within {limit} s")
        time.sleep(0.05)


def start_cli(*args: str | Path, cwd: Path) -> subprocess.Popen[str]:
    """``simba ARGS`` as a process leading a process group of its own, like a shell's job."""
    return subprocess.Popen(
        [sys.executable, "-m", "simba", *map(str, args)],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def read_trace(run_dir: Path) -> list[dict[str, Any]]:
    lines = (run_dir / ".simba" / "trace.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if line]


# -- the reference example, run once ----------------------------------------------------------


@pytest.fixture(scope="module", params=EXAMPLE_SOURCES)
def reference_run(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Any, Path, Path]:
    """A reference-format type-parsl example (no executor given), run unchanged once:
    the project's own (tests/compat/scenarios), and the reference's own when found."""
    base = tmp_path_factory.mktemp("reference")
    copy_example(request.param, "local", base)
    result = run_cli("run", "examples/local", "--run-id", "ref", cwd=base, timeout=300)
    return result, base / "runs" / "ref", base


@needs_parsl
def test_reference_parsl_example_runs_unchanged(reference_run: tuple[Any, Path, Path]) -> None:
    """The reference's type-parsl scenario runs every call through a local Parsl executor."""
    result, run_dir, _ = reference_run
    assert result.returncode == 0, result.stderr
    summary = json.loads((run_dir / ".simba" / "summary.json").read_text())
    assert summary["outcome"] == "success"
    assert summary["calls"] == summary["plannedCalls"] == 21
    assert {r["outcome"] for r in read_trace(run_dir)} == {"success"}


@needs_parsl
def test_parsl_files_stay_in_the_run_directory(reference_run: tuple[Any, Path, Path]) -> None:
    """Parsl's run directory is the run's .simba/parsl/; nothing lands in the working directory."""
    _, run_dir, cwd = reference_run
    assert not (cwd / "runinfo").exists()
    assert sorted(p.name for p in cwd.iterdir()) == ["examples", "runs"]
    parsl_dir = run_dir / ".simba" / "parsl" / "000"
    assert (parsl_dir / "parsl.log").is_file()
    # Both modules name no executor: they share the one default executor.
    executors = [p.name for p in parsl_dir.iterdir() if p.is_dir() and p.name != "submit_scripts"]
    assert executors == ["HighThroughputExecutor"]


@needs_parsl
def test_no_worker_process_survives_the_run(reference_run: tuple[Any, Path, Path]) -> None:
    """After the run, no worker pool, worker or module process of it is alive."""
    _, run_dir, _ = reference_run
    assert leftovers(run_dir) == []


# -- executors ------------------------------------------------------------------------------


@needs_parsl
def test_equal_settings_share_an_executor_and_others_get_their_own(
    write_scenario: Writer, tmp_path: Path
) -> None:
    """Modules with equal executor settings share an executor; others get their own label."""
    ok = str(MODULES / "ok.sh")
    pool = {"type": "HighThroughputExecutor", "label": "pool", "max_workers": 1}
    other = {**pool, "heartbeat_period": 20}
    scenario = write_scenario(
        [
            parsl_spec("a", 3, ok, executor=pool, tickIncrement=0),
            parsl_spec("b", 2, ok, executor=other, tickIncrement=0),
            parsl_spec("c", 1, ok, executor=dict(pool), tickIncrement=0),
        ],
        DRIVER,
    )
    result = run_cli("run", scenario, "--run-id", "ex", cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr
    run_dir = tmp_path / "runs" / "ex"
    parsl_dir = run_dir / ".simba" / "parsl" / "000"
    executors = {p.name for p in parsl_dir.iterdir() if p.is_dir() and p.name != "submit_scripts"}
    assert executors == {"pool", "pool-2"}
    assert leftovers(run_dir) == []


# -- failures -------------------------------------------------------------------------------


@needs_parsl
def test_a_failing_parsl_call_reads_like_a_local_one(
    write_scenario: Writer, tmp_path: Path
) -> None:
    """A module that exits 3 fails the run with the same message through Parsl as locally."""
    messages = {}
    for kind in ("local", "parsl"):
        spec = {"name": "a", "priority": 1, "command": str(MODULES / "exit3.sh"), "type": kind}
        if kind == "parsl":
            spec["executor"] = ONE_WORKER
        scenario = write_scenario([spec], DRIVER, name=kind)
        result = run_cli("run", scenario, "--run-id", kind, cwd=tmp_path, timeout=300)
        assert result.returncode == 1, result.stderr
        run_dir = str(tmp_path / "runs" / kind)
        match = re.search(r"module 'a'.*?\(full log: [^)]*\)", result.stderr, re.S)
        assert match, result.stderr
        messages[kind] = match.group(0).replace(run_dir, "RUN")
    assert "exited with code 3" in messages["parsl"]
    assert "exit3: giving up with code 3" in messages["parsl"]
    assert messages["parsl"] == messages["local"]


@needs_parsl
def test_each_parsl_failure_is_a_failed_attempt_and_retries_recover(
    write_scenario: Writer, tmp_path: Path
) -> None:
    """Exit 3, no status, a timeout and a lost worker pool each fail an attempt; retries recover."""
    counter = tmp_path / "count"
    spec = parsl_spec(
        "steps",
        1,
        str(MODULES / "parsl_steps.sh"),
        tickIncrement=0,
        retries=4,
        timeout=2,
        env={"COUNTER": str(counter)},
    )
    scenario = write_scenario([spec], DRIVER)
    process = start_cli("run", scenario, "--run-id", "steps", cwd=tmp_path)
    run_dir = tmp_path / "runs" / "steps"
    wait_for(Path(f"{counter}.waiting"), process)
    pools = [
        int(line.partition(":")[0])
        for line in live_processes(run_dir)
        if "process_worker_pool" in line
    ]
    assert pools
    for pid in pools:
        os.kill(pid, signal.SIGKILL)
    _, errors = process.communicate(timeout=300)
    assert process.returncode == 0, errors
    start = [r for r in read_trace(run_dir) if r["mode"] == "start"]
    assert [r["outcome"] for r in start] == ["exit", "status", "timeout", "error", "success"]
    assert "exited with code 3" in start[0]["reason"]
    assert "status file" in start[1]["reason"]
    assert "timeout of 2 s" in start[2]["reason"]
    assert "Parsl executor" in start[3]["reason"]
    assert leftovers(run_dir) == []


@needs_parsl
@pytest.mark.parametrize(
    ("signum", "group", "status"),
    [(signal.SIGTERM, False, 143), (signal.SIGINT, True, 130)],
    ids=["SIGTERM-to-simba", "Ctrl-C-to-its-group"],
)
def test_a_signal_stops_the_run_and_every_parsl_process(
    write_scenario: Writer, tmp_path: Path, signum: int, group: bool, status: int
) -> None:
    """A signal during a Parsl call ends the run (143/130) and leaves no Parsl or module process."""
    ready = tmp_path / "ready"
    spec = parsl_spec("wait", 1, str(MODULES / "parsl_wait.sh"), env={"READY": str(ready)})
    scenario = write_scenario([spec], DRIVER)
    process = start_cli("run", scenario, "--run-id", "sig", cwd=tmp_path)
    wait_for(ready, process)
    if group:  # as a terminal's Ctrl-C: Parsl's interchange gets it too
        os.killpg(process.pid, signum)
    else:
        process.send_signal(signum)
    _, errors = process.communicate(timeout=120)
    assert process.returncode == status, errors
    assert "--resume" in errors
    assert leftovers(tmp_path / "runs" / "sig") == []


# -- validation -----------------------------------------------------------------------------


def test_without_parsl_a_parsl_scenario_fails_validation(
    write_scenario: Writer, tmp_path: Path
) -> None:
    """Without Parsl, a type-parsl scenario is refused with exit 2 and the install command."""
    scenario = write_scenario([parsl_spec("a", 1, str(MODULES / "ok.sh"))], DRIVER)
    program = (
        "import sys; sys.modules['parsl'] = None; from simba.cli import main; "
        f"main(['validate', {str(scenario)!r}])"
    )
    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=False
    )
    assert result.returncode == 2
    assert "schedule[0].type" in result.stderr
    assert "pip install 'simba-cosim[parsl]'" in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_and_mistyped_parsl_fields_are_reported_with_their_path(
    write_scenario: Writer, simba_cli: Cli
) -> None:
    """Every wrong Parsl field is a validation problem at its JSON path, all reported at once."""
    spec = parsl_spec(
        "a",
        1,
        str(MODULES / "ok.sh"),
        executor={
            "type": "HighThroughputExecutor",
            "labl": "x",
            "provider": {"type": "LocalProvider"},
        },
        provider={"type": "SlurmProvider", "cores_per_node": "2", "walltime": "10 minutes"},
        launcher={"type": "MpiLauncher"},
    )
    scenario = write_scenario([spec], DRIVER)
    result = simba_cli("validate", scenario)
    assert result.returncode == 2, result.stderr
    errors = result.stderr
    assert "schedule[0].executor: unknown key 'labl' (did you mean 'label'?)" in errors
    assert "schedule[0].provider.cores_per_node: must be an integer" in errors
    assert "schedule[0].provider.walltime" in errors
    assert "schedule[0].launcher.type" in errors
    assert "Traceback" not in errors


@needs_parsl
# Without an address, Parsl probes the host's interfaces and leaves sockets to the collector.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.parametrize("examples", EXAMPLE_SOURCES)
def test_reference_slurm_fields_map_onto_parsl_objects(tmp_path: Path, examples: Path) -> None:
    """A reference-format SLURM example maps onto one shared HighThroughputExecutor +
    SlurmProvider, every field onto the Parsl attribute of its name."""
    from parsl.executors import HighThroughputExecutor
    from parsl.launchers import SingleNodeLauncher
    from parsl.providers import SlurmProvider

    from simba.runners.parsl_session import ParslSession
    from simba.scenario import load_scenario

    scenario = load_scenario(copy_example(examples, "slurm", tmp_path))
    first, second = (module.parsl for module in scenario.modules)
    assert first == second and first is not None
    executor = ParslSession(tmp_path / "parsl")._build(first, first.label)
    assert isinstance(executor, HighThroughputExecutor)
    entry = json.loads((examples / "slurm" / "schedule.json").read_text())["schedule"][0]
    assert executor.label == entry["executor"]["label"]
    provider = executor.provider
    assert isinstance(provider, SlurmProvider)
    fields = {key: value for key, value in entry["provider"].items() if key != "type"}
    assert {key: getattr(provider, key) for key in fields} == fields
    assert isinstance(provider.launcher, SingleNodeLauncher)
    assert f"SIMBA_PARSL_RUN={tmp_path / 'parsl'}" in provider.worker_init


@needs_parsl
def test_launcher_and_executor_fields_reach_parsl(tmp_path: Path) -> None:
    """Renamed executor fields, an SrunLauncher and a LocalProvider's default address are mapped."""
    from parsl.launchers import SrunLauncher

    from simba.runners.parsl_session import ParslSession
    from simba.scenario.parsl_settings import parse_settings

    settings, problems = parse_settings(
        {
            "executor": {
                "type": "HighThroughputExecutor",
                "max_workers": 3,
                "worker_ports": 50111,
                "worker_port_range": [50000, 50100],
                "storage_access": [],
            },
            "provider": {"type": "LocalProvider", "worker_init": "echo hello", "move_files": True},
            "launcher": {"type": "SrunLauncher", "overrides": "--mpi=none"},
        }
    )
    assert problems == []
    executor = ParslSession(tmp_path)._build(settings, "x")
    assert executor.max_workers_per_node == 3
    assert executor.worker_port == 50111
    assert executor.worker_port_range == (50000, 50100)
    assert executor.address == "127.0.0.1"
    assert isinstance(executor.provider.launcher, SrunLauncher)
    assert executor.provider.launcher.overrides == "--mpi=none"
    assert executor.provider.worker_init.endswith("\necho hello")


def test_scenarios_without_parsl_modules_do_not_import_parsl(
    write_scenario: Writer, tmp_path: Path
) -> None:
    """Running a scenario of local modules never imports Parsl."""
    scenario = write_scenario([{"name": "a", "priority": 1, "command": str(MODULES / "ok.sh")}])
    program = (
        "import sys, simba; "
        f"simba.run({str(scenario)!r}, output_directory={str(tmp_path / 'out')!r}); "
        "print('parsl' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


#: Runs one call through a ParslRunner in a process of its own (Parsl's logging stays
#: there) and prints what its meanwhile saw and the exit code.
MEANWHILE_PROGRAM = """
import json, sys
from pathlib import Path
from simba.runners.base import CallRequest
from simba.runners.parsl import ParslRunner
from simba.scenario import load_scenario

scenario, call = Path(sys.argv[1]), Path(sys.argv[2])
status = call / "status_1.json"
seen = []
runner = ParslRunner(call.parent / "parsl")
try:
    result = runner.run(
        CallRequest(
            module=load_scenario(scenario).modules[0],
            config_path=call / "module_1.json",
            stdout_path=call / "stdout_1",
            stderr_path=call / "stderr_1",
            timeout=120,
            meanwhile=lambda: seen.append(status.exists()),
        )
    )
finally:
    runner.shutdown()
print(json.dumps({"seen": seen, "exitCode": result.exit_code, "error": result.error}))
"""


@needs_parsl
def test_parsl_runner_does_the_meanwhile_work_once_while_the_call_runs(
    write_scenario: Writer, tmp_path: Path
) -> None:
    """ParslRunner calls the request's meanwhile once, before the call's end, like every runner."""
    scenario = write_scenario([parsl_spec("p", 1, str(MODULES / "scripted.py"))], DRIVER)
    call = tmp_path / "call"
    call.mkdir()
    document = {"statusFile": str(call / "status_1.json"), "moduleData": {"sleep": 1}}
    (call / "module_1.json").write_text(json.dumps(document))
    result = subprocess.run(
        [sys.executable, "-c", MEANWHILE_PROGRAM, str(scenario), str(call)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout.splitlines()[-1])
    assert outcome == {"seen": [False], "exitCode": 0, "error": None}  # once, before its end
