#!/usr/bin/env python3
"""Latency of a ``type: parsl`` call with a HighThroughputExecutor + LocalProvider.

Measured per round, each round with a fresh DataFlowKernel and worker pool:

- time to first result: from a new runner (nothing started) to the first call's
  result, i.e. Parsl's start, the first block and the first call;
- per-call latency after the first block: the median of ``--calls`` calls of a module
  that does nothing (``true``), through SIMBA's :class:`~simba.runners.parsl.ParslRunner`
  (bash script, Parsl task, output scan) and, for comparison, a bare Parsl ``bash_app``
  running ``true`` on an executor with the same settings;
- shutdown: stopping the kernel, the executor and its block.

Medians over the rounds are printed.  Usage:
``python benchmarks/parsl_latency.py [--calls 200] [--rounds 3]``.
Target (issue 6): per-call latency after the first block <= 15 ms.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from simba.runners.base import CallRequest
from simba.runners.parsl import ParslRunner
from simba.scenario import ModuleSpec, load_scenario


def tiny_module(directory: Path) -> ModuleSpec:
    """A type-parsl module running ``true``, loaded like any scenario's."""
    directory.mkdir(parents=True)
    (directory / "driver.json").write_text(
        json.dumps(
            {
                "initialTime": "2024-01-01T00:00:00",
                "endTime": "PT1S",
                "scheduleIntervals": [{"tickDuration": "PT1S"}],
            }
        )
    )
    schedule = {"schedule": [{"name": "tiny", "command": "true", "priority": 1, "type": "parsl"}]}
    (directory / "schedule.json").write_text(json.dumps(schedule))
    return load_scenario(directory).modules[0]


def runner_round(root: Path, module: ModuleSpec, calls: int) -> tuple[float, float, float]:
    """(time to first result, median call latency, shutdown time) through SIMBA's runner."""
    run_dir = root / "run"
    (run_dir / "calls").mkdir(parents=True)

    def request(number: int) -> CallRequest:
        return CallRequest(
            module=module,
            config_path=run_dir / "calls" / f"module_{number}.json",
            stdout_path=run_dir / "calls" / f"stdout_{number}",
            stderr_path=run_dir / "calls" / f"stderr_{number}",
            timeout=None,
        )

    started = time.perf_counter()
    runner = ParslRunner(run_dir / "parsl", environment={"SIMBA_RUN_DIR": str(run_dir)})
    first = runner.run(request(0))
    assert first.exit_code == 0, first
    first_result = time.perf_counter() - started
    latencies = []
    for number in range(1, calls + 1):
        begin = time.perf_counter()
        result = runner.run(request(number))
        latencies.append(time.perf_counter() - begin)
        assert result.exit_code == 0, result
    begin = time.perf_counter()
    runner.shutdown()
    return first_result, statistics.median(latencies), time.perf_counter() - begin


def bare_parsl_round(root: Path, calls: int) -> float:
    """Median latency of a bare Parsl bash_app running ``true`` (no SIMBA in the path)."""
    from parsl.app.app import bash_app
    from parsl.config import Config
    from parsl.dataflow.dflow import DataFlowKernel
    from parsl.executors import HighThroughputExecutor
    from parsl.providers import LocalProvider

    bin_dir = Path(sys.executable).parent
    executor = HighThroughputExecutor(
        label="bare",
        address="127.0.0.1",
        provider=LocalProvider(worker_init=f"export PATH={bin_dir}:$PATH"),
    )
    dfk = DataFlowKernel(
        Config(executors=[executor], run_dir=str(root / "bare"), strategy_period=1.0)
    )

    def command() -> str:
        return "true"

    app = bash_app(command, data_flow_kernel=dfk, executors=["bare"])
    try:
        app().result()
        latencies = []
        for _ in range(calls):
            begin = time.perf_counter()
            app().result()
            latencies.append(time.perf_counter() - begin)
    finally:
        dfk.cleanup()
    return statistics.median(latencies)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    firsts, latencies, shutdowns, bare = [], [], [], []
    with tempfile.TemporaryDirectory(prefix="simba-parsl-bench-") as temp:
        root = Path(temp)
        module = tiny_module(root / "scenario")
        for number in range(args.rounds):
            first, latency, shutdown = runner_round(root / f"round{number}", module, args.calls)
            firsts.append(first)
            latencies.append(latency)
            shutdowns.append(shutdown)
            bare.append(bare_parsl_round(root / f"bare{number}", args.calls))

    median = statistics.median
    print(f"rounds x calls:                     {args.rounds} x {args.calls}")
    print(f"time to first result, median:       {median(firsts):.2f} s")
    print(f"per-call latency (SIMBA), median:   {median(latencies) * 1000:.1f} ms  (target <= 15)")
    print(f"per-call latency (bare Parsl):      {median(bare) * 1000:.1f} ms")
    print(f"shutdown, median:                   {median(shutdowns):.2f} s")


if __name__ == "__main__":
    main()
