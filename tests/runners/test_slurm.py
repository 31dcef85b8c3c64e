"""examples/slurm/ end to end on a real single-node SLURM cluster on localhost.

The fixture starts Debian's munged, slurmctld and slurmd with tests/slurm/cluster.sh
(installing the packages first when CI=true or SIMBA_SLURM_INSTALL=1), and stops them
by PID afterwards.  The run goes through Parsl's SlurmProvider and SrunLauncher, so
the worker pool is a real ``sbatch`` job and every call a task in it.  Without root, or
without the packages outside CI, the tests are skipped with the reason; in CI they run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import pytest
from conftest import EXAMPLES, ROOT, run_cli
from test_runner_parsl import leftovers

CLUSTER = ROOT / "tests" / "slurm" / "cluster.sh"
IN_CI = os.environ.get("CI", "").lower() == "true"


def unavailable() -> str | None:
    """Why no SLURM cluster can be started here, or None (installing it first if allowed)."""
    if find_spec("parsl") is None:
        return "Parsl is not installed (pip install 'simba-cosim[parsl]')"
    if os.geteuid() != 0:
        return "needs root to start slurmd and munged (see tests/slurm/cluster.sh)"
    if shutil.which("slurmctld") is None or shutil.which("sbatch") is None:
        if not (IN_CI or os.environ.get("SIMBA_SLURM_INSTALL") == "1"):
            return (
                "SLURM is not installed; run 'tests/slurm/cluster.sh install' as root, or set "
                "SIMBA_SLURM_INSTALL=1 to let the tests install it"
            )
        installed = subprocess.run(
            ["bash", str(CLUSTER), "install"], capture_output=True, text=True, check=False
        )
        if installed.returncode != 0:
            return f"the SLURM packages could not be installed: {installed.stderr.strip()}"
    return None


@pytest.fixture(scope="module")
def slurm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A running single-node cluster; yields the environment that points at it."""
    reason = unavailable()
    if reason is not None:
        if IN_CI:
            pytest.fail(f"CI must run the SLURM tests, but {reason}")
        pytest.skip(reason)
    directory = tmp_path_factory.mktemp("slurm")
    started = subprocess.run(
        ["bash", str(CLUSTER), "start", str(directory)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        yield {"SLURM_CONF": str(directory / "slurm.conf")}
    finally:
        subprocess.run(["bash", str(CLUSTER), "stop", str(directory)], check=False, timeout=120)


@pytest.fixture(scope="module")
def slurm_run(
    slurm: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> tuple[subprocess.CompletedProcess[str], Path, dict[str, str]]:
    """examples/slurm run once through the cluster."""
    cwd = tmp_path_factory.mktemp("slurm-run")
    environment = {
        **slurm,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    result = run_cli(
        "run",
        EXAMPLES / "slurm",
        "-o",
        cwd / "out",
        "--run-id",
        "slurm",
        cwd=cwd,
        env=environment,
        timeout=600,
    )
    return result, cwd / "out" / "slurm", environment


def queue(environment: dict[str, str]) -> list[str]:
    """The jobs SLURM still knows as pending, running or completing."""
    listed = subprocess.run(
        ["squeue", "-h", "-o", "%i %T %j"],
        capture_output=True,
        text=True,
        env={**os.environ, **environment},
        check=True,
    )
    return listed.stdout.split("\n")[:-1]


def test_slurm_example_runs_through_sbatch_and_srun(slurm_run: Any) -> None:
    """Every call of examples/slurm runs in one SLURM job that Parsl started via sbatch and srun."""
    result, run_dir, _ = slurm_run
    assert result.returncode == 0, result.stderr
    summary = json.loads((run_dir / ".simba" / "summary.json").read_text())
    assert summary["outcome"] == "success"
    assert summary["calls"] == summary["plannedCalls"] == 2 * (12 + 2)
    scripts = run_dir / ".simba" / "parsl" / "000" / "submit_scripts"
    (job_script,) = (
        p
        for p in scripts.iterdir()
        if p.name.startswith("parsl.cluster.block-") and not p.name.endswith((".stdout", ".stderr"))
    )
    text = job_script.read_text()
    assert "#SBATCH --partition=debug" in text and "\nsrun " in text
    lines = [(run_dir / f"{tick:02d}" / "stdout_1").read_text() for tick in range(1, 13)]
    jobs = {re.search(r"in SLURM job (\d+)", line).group(1) for line in lines}  # type: ignore[union-attr]
    assert len(jobs) == 1


def test_slurm_example_results_follow_the_thermostat(slurm_run: Any) -> None:
    """The room warms from 16 degrees and the thermostat keeps it near its 19-21 degree band."""
    _, run_dir, _ = slurm_run
    summary = json.loads((run_dir / ".simba" / "summary.json").read_text())
    final = summary["commonData"]
    assert 17.0 < final["temperature"] < 23.0
    switches = "".join((run_dir / f"{tick:02d}" / "stdout_2").read_text() for tick in range(1, 13))
    assert "heating on" in switches and "heating off" in switches


def test_no_slurm_job_or_block_is_left(slurm_run: Any) -> None:
    """After the run, SLURM holds no job of it and no worker or module process survives."""
    _, run_dir, environment = slurm_run
    deadline = time.monotonic() + 60
    jobs = queue(environment)
    while jobs and time.monotonic() < deadline:  # a cancelled job is 'completing' for a moment
        time.sleep(0.5)
        jobs = queue(environment)
    assert jobs == []
    assert leftovers(run_dir) == []
