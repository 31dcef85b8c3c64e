#!/usr/bin/env python3
"""SIMBA's performance figures, measured side by side in one run: ``python benchmarks/run.py``.

Every figure is the median of several rounds (rounds of different figures interleave
where they are compared with each other) and is printed beside its target:

(a) per-call overhead: ``simba run`` of 1 module x 1000 ticks of a tiny POSIX sh module
    against a bare Python loop that runs the same module over fresh copies of the same
    config files (the functions of ``benchmarks/overhead.py``); per call, start-up
    excluded (target <= 1.10), and for the whole process (informational);
(b) a Python SDK module run resident against the same module run one-shot, time per
    call (target: resident >= 10x faster);
(c) 4 independent modules (``dependsOn: []``) of 0.2 s per call, ``-j 4`` against
    ``-j 1`` (target >= 3x);
(d) a sparse scenario: 1,000,000 ticks, one module every 100,000 ticks (target <= 3 s);
(e) start-up: ``simba --version`` (target <= 0.15 s), a 1-tick ``simba run`` (<= 0.35 s);
(f) peak memory (max RSS) of ``simba run`` with a trivial resident module, 100,000
    calls against 1,000 calls (target: within 10 MB);
(g) SIMBA with a resident Python SDK module against mosaik 3 with an equivalent
    simulator (both count their steps; mosaik talks to it over loopback TCP): seconds
    per step and their ratio (informational).  mosaik is installed on first use into
    ``benchmarks/.venv-mosaik``; if that fails, the figure says so.

Rounds: 5 (``--rounds``) for (a), at most 3 for the long figures (b), (c), (d) and (g),
10 for the start-up times (e), and one for (f), whose figure does not depend on timing.

Usage: ``python benchmarks/run.py [--quick] [--rounds N] [--only abcdefg] [--json FILE]``.
``--quick`` scales counts down for a smoke run; its figures are not comparable with the
targets.  Run it on a quiet machine: other work on the CPUs and disks moves every figure.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from overhead import BARE_LOOP, MODULE, compile_simba, copy_configs, timed, write_scenario

HERE = Path(__file__).resolve().parent
MODULES = HERE / "modules"
MOSAIK_VENV = HERE / ".venv-mosaik"
MOSAIK_REQUIREMENT = "mosaik>=3,<4"
SIMBA_EXECUTABLE = Path(sys.executable).with_name("simba")
#: How to start simba: the installed console script, as a user would.
SIMBA = [str(SIMBA_EXECUTABLE)] if SIMBA_EXECUTABLE.exists() else [sys.executable, "-m", "simba"]


@dataclass(frozen=True)
class Sizes:
    """How much each benchmark does (the full run and the --quick smoke run)."""

    rounds: int
    overhead_ticks: int
    sdk_ticks: int
    parallel_ticks: int
    sparse_ticks: int
    sparse_every: int
    startup_rounds: int
    memory_small: int
    memory_large: int
    memory_rounds: int
    mosaik_steps: int


FULL = Sizes(
    rounds=5,
    overhead_ticks=1000,
    sdk_ticks=300,
    parallel_ticks=2,
    sparse_ticks=1_000_000,
    sparse_every=100_000,
    startup_rounds=10,
    memory_small=1_000,
    memory_large=100_000,
    memory_rounds=1,
    mosaik_steps=10_000,
)
QUICK = Sizes(
    rounds=2,
    overhead_ticks=200,
    sdk_ticks=40,
    parallel_ticks=1,
    sparse_ticks=1_000_000,
    sparse_every=100_000,
    startup_rounds=3,
    memory_small=1_000,
    memory_large=10_000,
    memory_rounds=1,
    mosaik_steps=1_000,
)


@dataclass
class Figure:
    """One measured figure and its target."""

    key: str
    name: str
    value: float | None
    unit: str
    target: str
    met: bool | None
    detail: str = ""

    def render_value(self) -> str:
        if self.value is None:
            return "-"
        if self.unit == "x":
            return f"{self.value:.2f}x"
        if self.unit == "ratio":
            return f"{self.value:.3f}"
        if self.unit == "s":
            return f"{self.value:.3f} s"
        if self.unit == "ms":
            return f"{self.value:.3f} ms"
        if self.unit == "MB":
            return f"{self.value:+.1f} MB"
        return f"{self.value:g} {self.unit}"


class BenchmarkError(Exception):
    """A benchmark could not measure (a run failed, a tool is missing)."""


def at_most(value: float, limit: float) -> bool:
    return value <= limit


def at_least(value: float, limit: float) -> bool:
    return value >= limit


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def say(message: str) -> None:
    """Progress, on stderr, so that stdout holds only the figures."""
    print(message, file=sys.stderr, flush=True)


# -- running simba ---------------------------------------------------------------------------


def write_document(path: Path, driver: dict[str, Any], schedule: list[dict[str, Any]]) -> Path:
    """A one-file scenario."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"driver": driver, "schedule": schedule}, indent=2))
    return path


def seconds_driver(ticks: int) -> dict[str, Any]:
    """Ticks 0..``ticks`` of one second each."""
    return {
        "initialTime": "2024-01-01T00:00:00",
        "endTime": f"PT{ticks}S",
        "scheduleIntervals": [{"tickDuration": "PT1S"}],
    }


@dataclass(frozen=True)
class RunFigures:
    seconds: float
    """Wall time of the whole ``simba run`` process."""
    summary: dict[str, Any]
    max_rss_mb: float


def simba_run(scenario: Path, out: Path, run_id: str, *options: str) -> RunFigures:
    """Run ``simba run`` as a child process; its wall time, summary and peak memory.

    The run directory is new (no ``--overwrite``, whose deletion would be timed too).
    """
    command = [*SIMBA, "run", "-o", str(out), "--run-id", run_id, *options, str(scenario)]
    with tempfile.TemporaryFile() as errors:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=errors)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            errors.seek(0)
            tail = errors.read().decode(errors="replace").strip().splitlines()[-5:]
            raise BenchmarkError(
                f"{' '.join(command)} exited with {process.returncode}: " + " / ".join(tail)
            )
    summary = json.loads((out / run_id / ".simba" / "summary.json").read_text())
    # ru_maxrss is in KiB on Linux; the resident modules are far smaller than simba.
    return RunFigures(seconds=seconds, summary=summary, max_rss_mb=usage.ru_maxrss / 1024)


@contextlib.contextmanager
def workspace(name: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix=f"simba-bench-{name}-") as temp:
        yield Path(temp)


class RunIds:
    """Fresh run ids, so that no measured run deletes an earlier one."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}{self.count}"


# -- (a) per-call overhead ------------------------------------------------------------------


def bench_overhead(sizes: Sizes) -> list[Figure]:
    rounds, ticks = sizes.rounds, sizes.overhead_ticks
    with workspace("overhead") as root:
        many = write_scenario(root / "many", ticks)
        one = write_scenario(root / "one", 1)
        out, ids = root / "runs", RunIds()
        # First runs write the config files that the bare loop reuses (and warm caches).
        simba_run(many, out, "configs-many")
        simba_run(one, out, "configs-one")
        many_configs = sorted((out / "configs-many").glob("*/module_1.json"))
        one_configs = sorted((out / "configs-one").glob("*/module_1.json"))
        simba_many, simba_one, bare_many, bare_one = [], [], [], []
        for number in range(rounds):
            say(f"  (a) round {number + 1}/{rounds}")
            run_id = ids("many")
            simba_many.append(simba_run(many, out, run_id).seconds)
            simba_one.append(simba_run(one, out, ids("one")).seconds)
            for configs, times, label in (
                (many_configs, bare_many, "many"),
                (one_configs, bare_one, "one"),
            ):
                copies = copy_configs(configs, root / f"bare-{label}-{number}")
                module = str(many / "tiny.sh")
                times.append(timed([sys.executable, "-c", BARE_LOOP, module, *copies], root))
            shutil.rmtree(out / run_id)  # keep the disk small
    calls_many, calls_one = len(many_configs), len(one_configs)
    extra = calls_many - calls_one
    per_call_simba = [(m - o) / extra for m, o in zip(simba_many, simba_one, strict=True)]
    per_call_bare = [(m - o) / extra for m, o in zip(bare_many, bare_one, strict=True)]
    per_call_ratio = median([s / b for s, b in zip(per_call_simba, per_call_bare, strict=True)])
    whole_ratio = median([s / b for s, b in zip(simba_many, bare_many, strict=True)])
    simba_us, bare_us = median(per_call_simba) * 1e6, median(per_call_bare) * 1e6
    return [
        Figure(
            "a",
            f"per-call time, simba / bare loop (1 module x {ticks} ticks, start-up excluded)",
            per_call_ratio,
            "ratio",
            "<= 1.10",
            at_most(per_call_ratio, 1.10),
            f"per call: simba {simba_us:.0f} us, bare loop {bare_us:.0f} us "
            f"(extra time of {calls_many} calls over {calls_one}, medians of {rounds})",
        ),
        Figure(
            "a",
            f"whole run, simba / bare loop ({calls_many} calls, simba start-up included)",
            whole_ratio,
            "ratio",
            "info",
            None,
            f"simba run {median(simba_many):.3f} s, bare loop {median(bare_many):.3f} s",
        ),
    ]


# -- (b) resident vs one-shot ---------------------------------------------------------------


def sdk_schedule(kind: str) -> list[dict[str, Any]]:
    command = [sys.executable, str(MODULES / "sdk_count.py")]
    return [{"name": "count", "priority": 1, "type": kind, "command": command}]


def per_call(run: RunFigures) -> float:
    """Seconds per call of the run loop (summary.json wallTime / calls; no CLI start-up)."""
    return float(run.summary["wallTime"]) / int(run.summary["calls"])


def bench_resident(sizes: Sizes) -> list[Figure]:
    rounds, ticks = sizes.rounds, sizes.sdk_ticks
    one_shot, resident = [], []
    with workspace("resident") as root:
        driver, ids = seconds_driver(ticks), RunIds()
        scenarios = {
            kind: write_document(root / f"{kind}.json", driver, sdk_schedule(kind))
            for kind in ("local", "resident")
        }
        for number in range(min(rounds, 3)):
            say(f"  (b) round {number + 1}/{min(rounds, 3)}")
            for kind, times in (("local", one_shot), ("resident", resident)):
                run = simba_run(scenarios[kind], root / "runs", ids(kind))
                steps = run.summary["modules"]["count"]["moduleData"]["steps"]
                if steps != ticks:
                    raise BenchmarkError(f"the {kind} module counted {steps} steps, not {ticks}")
                times.append(per_call(run))
    speedup = median([o / r for o, r in zip(one_shot, resident, strict=True)])
    return [
        Figure(
            "b",
            f"resident vs one-shot Python SDK module ({ticks + 2} calls)",
            speedup,
            "x",
            ">= 10x",
            at_least(speedup, 10),
            f"per call: one-shot {median(one_shot) * 1e3:.2f} ms, "
            f"resident {median(resident) * 1e3:.3f} ms",
        )
    ]


# -- (c) parallel speedup -------------------------------------------------------------------


def bench_parallel(sizes: Sizes) -> list[Figure]:
    rounds, ticks = min(sizes.rounds, 3), sizes.parallel_ticks
    command = str(MODULES / "sleep.sh")
    schedule = [
        {"name": f"m{i}", "priority": i, "command": command, "dependsOn": []} for i in range(4)
    ]
    serial, concurrent, serial_process, concurrent_process = [], [], [], []
    with workspace("parallel") as root:
        scenario = write_document(root / "parallel.json", seconds_driver(ticks), schedule)
        ids = RunIds()
        for number in range(rounds):
            say(f"  (c) round {number + 1}/{rounds}")
            for jobs, loop, process in (
                ("1", serial, serial_process),
                ("4", concurrent, concurrent_process),
            ):
                run = simba_run(scenario, root / "runs", ids(f"j{jobs}-"), "-j", jobs)
                loop.append(float(run.summary["wallTime"]))
                process.append(run.seconds)
    speedup = median([s / c for s, c in zip(serial, concurrent, strict=True)])
    calls = 4 * (ticks + 2)
    return [
        Figure(
            "c",
            f"-j 4 vs -j 1, 4 independent 0.2 s modules ({calls} calls)",
            speedup,
            "x",
            ">= 3x",
            at_least(speedup, 3),
            f"run loop: -j 1 {median(serial):.2f} s, -j 4 {median(concurrent):.2f} s; "
            f"whole process: {median(serial_process):.2f} s vs {median(concurrent_process):.2f} s",
        )
    ]


# -- (d) sparse scenario --------------------------------------------------------------------


def bench_sparse(sizes: Sizes) -> list[Figure]:
    rounds, ticks, every = min(sizes.rounds, 3), sizes.sparse_ticks, sizes.sparse_every
    with workspace("sparse") as root:
        module = root / "tiny.sh"
        module.write_text(MODULE)
        module.chmod(0o755)
        schedule = [
            {"name": "sparse", "priority": 1, "command": str(module), "tickIncrement": every}
        ]
        scenario = write_document(root / "sparse.json", seconds_driver(ticks), schedule)
        ids, times, calls = RunIds(), [], 0
        for number in range(rounds):
            say(f"  (d) round {number + 1}/{rounds}")
            run = simba_run(scenario, root / "runs", ids("sparse"))
            times.append(run.seconds)
            calls = int(run.summary["calls"])
    seconds = median(times)
    return [
        Figure(
            "d",
            f"sparse: {ticks:,} ticks, a module every {every:,} ({calls} calls), whole run",
            seconds,
            "s",
            "<= 3 s",
            at_most(seconds, 3.0),
        )
    ]


# -- (e) start-up ---------------------------------------------------------------------------


def bench_startup(sizes: Sizes) -> list[Figure]:
    rounds = sizes.startup_rounds
    with workspace("startup") as root:
        one = write_scenario(root / "one", 1)
        version, one_tick, ids = [], [], RunIds()
        timed([*SIMBA, "--version"], root)  # warm the file cache
        for number in range(rounds):
            if number % 5 == 0:
                say(f"  (e) round {number + 1}/{rounds}")
            version.append(timed([*SIMBA, "--version"], root))
            one_tick.append(simba_run(one, root / "runs", ids("one")).seconds)
    version_s, one_tick_s = median(version), median(one_tick)
    return [
        Figure(
            "e",
            "start-up: simba --version",
            version_s,
            "s",
            "<= 0.15 s",
            at_most(version_s, 0.15),
        ),
        Figure(
            "e",
            "start-up: 1-tick simba run (3 calls of a tiny sh module)",
            one_tick_s,
            "s",
            "<= 0.35 s",
            at_most(one_tick_s, 0.35),
        ),
    ]


# -- (f) peak memory ------------------------------------------------------------------------


def bench_memory(sizes: Sizes) -> list[Figure]:
    small, large, rounds = sizes.memory_small, sizes.memory_large, sizes.memory_rounds
    schedule = [
        {
            "name": "ok",
            "priority": 1,
            "type": "resident",
            "command": str(MODULES / "resident_ok.sh"),
        }
    ]
    peaks: dict[int, list[float]] = {small: [], large: []}
    seconds: dict[int, list[float]] = {small: [], large: []}
    with workspace("memory") as root:
        ids = RunIds()
        for calls in (small, large):
            scenario = write_document(
                root / f"memory{calls}.json", seconds_driver(calls - 2), schedule
            )
            for number in range(rounds):
                say(f"  (f) {calls:,} calls, round {number + 1}/{rounds}")
                run_id = ids(f"m{calls}-")
                run = simba_run(scenario, root / "runs", run_id)
                if int(run.summary["calls"]) != calls:
                    raise BenchmarkError(f"expected {calls} calls, made {run.summary['calls']}")
                peaks[calls].append(run.max_rss_mb)
                seconds[calls].append(run.seconds)
                shutil.rmtree(root / "runs" / run_id)
    growth = median(peaks[large]) - median(peaks[small])
    return [
        Figure(
            "f",
            f"peak memory (max RSS), {large:,} calls minus {small:,} calls",
            growth,
            "MB",
            "<= 10 MB",
            at_most(growth, 10.0),
            f"max RSS {median(peaks[small]):.1f} MB and {median(peaks[large]):.1f} MB "
            f"(runs of {median(seconds[small]):.1f} s and {median(seconds[large]):.1f} s, "
            f"a trivial resident module; median of {rounds})",
        )
    ]


# -- (g) against mosaik ---------------------------------------------------------------------


def mosaik_python() -> Path:
    """The interpreter of the benchmark's own mosaik environment, installed on first use."""
    python = MOSAIK_VENV / "bin" / "python"
    probe = [str(python), "-c", "import mosaik, mosaik_api_v3"]
    if python.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return python
    say(f"  (g) installing {MOSAIK_REQUIREMENT} into {MOSAIK_VENV} (first use)")
    steps = [
        [sys.executable, "-m", "venv", str(MOSAIK_VENV)],
        [str(python), "-m", "pip", "install", "--quiet", MOSAIK_REQUIREMENT],
    ]
    for step in steps:
        try:
            done = subprocess.run(step, capture_output=True, text=True, timeout=900)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise BenchmarkError(f"mosaik could not be installed: {exc}") from exc
        if done.returncode != 0:
            tail = " / ".join((done.stderr or done.stdout).strip().splitlines()[-3:])
            raise BenchmarkError(f"mosaik could not be installed ({' '.join(step)}): {tail}")
    if subprocess.run(probe, capture_output=True).returncode != 0:
        raise BenchmarkError("mosaik was installed but cannot be imported")
    return python


def run_mosaik(python: Path, steps: int, workdir: Path) -> dict[str, float]:
    command = [str(python), str(MODULES / "mosaik_world.py"), str(steps), str(workdir)]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, timeout=1800, cwd=workdir)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        tail = " / ".join(done.stderr.strip().splitlines()[-5:])
        raise BenchmarkError(f"the mosaik scenario exited with {done.returncode}: {tail}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if result["steps"] != steps:
        raise BenchmarkError(f"the mosaik simulator counted {result['steps']} steps, not {steps}")
    return {"run": result["seconds"], "process": seconds}


def bench_mosaik(sizes: Sizes) -> list[Figure]:
    rounds, steps = min(sizes.rounds, 3), sizes.mosaik_steps
    name = f"SIMBA (resident SDK module) vs mosaik 3, {steps:,} steps of a step counter"
    try:
        python = mosaik_python()
    except BenchmarkError as exc:
        return [Figure("g", name, None, "x", "info", None, f"NOT MEASURED: {exc}")]
    version = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print(m.version('mosaik'))"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    simba_step, mosaik_step, simba_process, mosaik_process = [], [], [], []
    with workspace("mosaik") as root:
        scenario = write_document(
            root / "simba.json", seconds_driver(steps), sdk_schedule("resident")
        )
        ids = RunIds()
        for number in range(rounds):
            say(f"  (g) round {number + 1}/{rounds}")
            run_id = ids("g")
            run = simba_run(scenario, root / "runs", run_id)
            counted = run.summary["modules"]["count"]["moduleData"]["steps"]
            if counted != steps:
                raise BenchmarkError(f"the SIMBA module counted {counted} steps, not {steps}")
            simba_step.append(float(run.summary["wallTime"]) / steps)
            simba_process.append(run.seconds)
            shutil.rmtree(root / "runs" / run_id)
            workdir = root / f"mosaik{number}"
            workdir.mkdir()
            measured = run_mosaik(python, steps, workdir)
            mosaik_step.append(measured["run"] / steps)
            mosaik_process.append(measured["process"])
    ratio = median([s / m for s, m in zip(simba_step, mosaik_step, strict=True)])
    return [
        Figure(
            "g",
            name,
            ratio,
            "x",
            "info",
            None,
            f"seconds per step: SIMBA {median(simba_step) * 1e3:.3f} ms, "
            f"mosaik {version} {median(mosaik_step) * 1e3:.3f} ms (ratio SIMBA / mosaik); "
            f"whole processes {median(simba_process):.2f} s vs {median(mosaik_process):.2f} s",
        )
    ]


# -- the report -----------------------------------------------------------------------------

BENCHMARKS: dict[str, tuple[str, Callable[[Sizes], list[Figure]]]] = {
    "a": ("per-call overhead", bench_overhead),
    "b": ("resident vs one-shot", bench_resident),
    "c": ("parallel speedup", bench_parallel),
    "d": ("sparse scenario", bench_sparse),
    "e": ("start-up", bench_startup),
    "f": ("peak memory", bench_memory),
    "g": ("SIMBA vs mosaik", bench_mosaik),
}


def machine() -> dict[str, Any]:
    model = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.partition(":")[2].strip()
                break
    version = subprocess.run([*SIMBA, "--version"], capture_output=True, text=True).stdout
    return {
        "simba": version.strip().rpartition(" ")[2],
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()}",
        "cpu": model,
        "cpus": os.cpu_count(),
        "loadAverage": [round(x, 2) for x in os.getloadavg()],
    }


def render(figures: list[Figure], failures: dict[str, str]) -> str:
    """The table of figures: one line per figure with its target, its details below it."""
    header = ("", "figure", "median", "target")
    rows = [(f"({f.key})", f.name, f.render_value(), f.target) for f in figures]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(4)]

    def line(cells: tuple[str, ...], verdict: str) -> str:
        padded = [
            cell.rjust(w) if i == 2 else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join([*padded, verdict]).rstrip()

    lines = [line(header, "")]
    for figure, row in zip(figures, rows, strict=True):
        lines.append(line(row, {True: "met", False: "MISSED", None: ""}[figure.met]))
        if figure.detail:
            lines.append(" " * (widths[0] + 2) + "  " + figure.detail)
    for key, error in failures.items():
        lines.append(f"({key})  {BENCHMARKS[key][0]}: FAILED TO MEASURE: {error}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller counts: a smoke run")
    parser.add_argument(
        "--rounds",
        type=int,
        help="rounds per figure (default 5, quick 2); b, c, d and g take at most 3, f 1",
    )
    parser.add_argument(
        "--only", default="abcdefg", help="which figures to measure, e.g. --only ace"
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    if args.rounds:
        sizes = Sizes(**{**asdict(sizes), "rounds": args.rounds})
    unknown = set(args.only) - set(BENCHMARKS)
    if unknown:
        parser.error(f"--only: unknown figure(s) {', '.join(sorted(unknown))}")

    info = machine()
    header = (
        f"SIMBA {info['simba']} benchmarks{' (--quick: smoke run, not comparable)' * args.quick}"
        f"\nPython {info['python']}, {info['system']}, {info['cpus']} CPUs ({info['cpu']}), "
        f"load average at start {' '.join(map(str, info['loadAverage']))}"
    )
    say(header)
    compile_simba()
    figures: list[Figure] = []
    failures: dict[str, str] = {}
    started = time.perf_counter()
    for key, (title, bench) in BENCHMARKS.items():
        if key not in args.only:
            continue
        say(f"({key}) {title} ...")
        try:
            figures.extend(bench(sizes))
        except Exception as exc:
            failures[key] = f"{type(exc).__name__}: {exc}"
            say(traceback.format_exc())
    elapsed = time.perf_counter() - started
    load_end = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(header)
    print(f"{sizes.rounds} rounds per figure, measured in {elapsed:.0f} s; load at end {load_end}")
    print()
    print(render(figures, failures))
    if args.json:
        document = {
            "machine": info,
            "quick": args.quick,
            "sizes": asdict(sizes),
            "figures": [asdict(figure) for figure in figures],
            "failures": failures,
        }
        args.json.write_text(json.dumps(document, indent=2) + "\n")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
