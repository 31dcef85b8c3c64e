"""Parsl fields the reference driver's code reads: ``worker_port`` and a module-level
``launcher`` (or ``provider``) beside the one nested in the provider (or executor).

The settings are built into real Parsl objects (a HighThroughputExecutor with its
provider and launcher, not started); one scenario runs on a real local worker pool.
"""

from __future__ import annotations

import json
import socket
import subprocess
from collections.abc import Callable
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import pytest
from conftest import MODULES

Cli = Callable[..., subprocess.CompletedProcess[str]]
Writer = Callable[..., Path]

pytestmark = pytest.mark.skipif(
    find_spec("parsl") is None, reason="Parsl is not installed (pip install 'simba-cosim[parsl]')"
)

DRIVER = {
    "initialTime": "2024-01-01T00:00:00",
    "endTime": "2024-01-03T00:00:00",
    "scheduleIntervals": [{"tickDuration": "P1D"}],
}


def entry(**fields: Any) -> dict[str, Any]:
    executor = {"type": "HighThroughputExecutor", "max_workers": 1}
    return {
        "name": "room 1",
        "priority": 1,
        "command": str(MODULES / "ok.sh"),
        "type": "parsl",
        "executor": {**executor, **fields.pop("executor", {})},
        **fields,
    }


def built(scenario: Path, tmp_path: Path) -> Any:
    """The real HighThroughputExecutor that SIMBA builds for the scenario's one module."""
    from simba.runners.parsl_session import ParslSession
    from simba.scenario import load_scenario

    (module,) = load_scenario(scenario).modules
    assert module.parsl is not None
    return ParslSession(tmp_path / "parsl")._build(module.parsl, module.parsl.label)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.mark.parametrize("key", ["worker_port", "worker_ports"])
def test_worker_port_reaches_the_executor(
    write_scenario: Writer, simba_cli: Cli, tmp_path: Path, key: str
) -> None:
    """worker_port (what the reference's code reads) and worker_ports (its schema) both work."""
    scenario = write_scenario([entry(executor={key: 50123})], DRIVER)
    assert simba_cli("validate", scenario).returncode == 0
    executor = built(scenario, tmp_path)
    assert executor.worker_port == 50123


def test_worker_port_and_worker_ports_that_differ_are_a_problem(
    write_scenario: Writer, simba_cli: Cli
) -> None:
    """Both spellings with two different ports: exit 2, naming the field."""
    scenario = write_scenario([entry(executor={"worker_port": 1, "worker_ports": 2})], DRIVER)
    result = simba_cli("validate", scenario)
    assert result.returncode == 2
    assert "schedule[0].executor.worker_ports: worker_port and worker_ports" in result.stderr


def test_module_level_launcher_beside_the_providers_is_used(
    write_scenario: Writer, simba_cli: Cli, tmp_path: Path
) -> None:
    """A top-level launcher beside provider.launcher is accepted; the top-level one is used."""
    from parsl.launchers import SrunLauncher

    scenario = write_scenario(
        [
            entry(
                provider={"type": "LocalProvider", "launcher": {"type": "SingleNodeLauncher"}},
                launcher={"type": "SrunLauncher", "overrides": "--mpi=none"},
            )
        ],
        DRIVER,
    )
    result = simba_cli("validate", scenario)
    assert result.returncode == 0, result.stderr
    assert "module 'room 1': its launcher is given both" in result.stderr
    assert "uses the top-level one" in result.stderr
    launcher = built(scenario, tmp_path).provider.launcher
    assert isinstance(launcher, SrunLauncher)
    assert launcher.overrides == "--mpi=none"


def test_module_level_provider_beside_the_executors_is_used(
    write_scenario: Writer, simba_cli: Cli, tmp_path: Path
) -> None:
    """A top-level provider beside executor.provider is accepted; the top-level one is used."""
    scenario = write_scenario(
        [
            entry(
                executor={"provider": {"type": "LocalProvider", "max_blocks": 3}},
                provider={"type": "LocalProvider", "max_blocks": 2},
            )
        ],
        DRIVER,
    )
    result = simba_cli("validate", scenario)
    assert result.returncode == 0, result.stderr
    assert "its provider is given both" in result.stderr
    assert built(scenario, tmp_path).provider.max_blocks == 2


def test_equal_launchers_in_both_places_give_no_warning(
    write_scenario: Writer, simba_cli: Cli
) -> None:
    """The same launcher in both places is simply accepted."""
    launcher = {"type": "SingleNodeLauncher", "debug": True}
    scenario = write_scenario(
        [entry(provider={"type": "LocalProvider", "launcher": launcher}, launcher=launcher)],
        DRIVER,
    )
    result = simba_cli("validate", scenario)
    assert result.returncode == 0, result.stderr
    assert "given both" not in result.stderr


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_run_with_worker_port_and_both_launchers(
    write_scenario: Writer, simba_cli: Cli, tmp_path: Path
) -> None:
    """A real local worker pool connects on the fixed worker_port; every call succeeds."""
    port = free_port()
    scenario = write_scenario(
        [
            entry(
                executor={"worker_port": port},
                provider={"type": "LocalProvider", "launcher": {"type": "SingleNodeLauncher"}},
                launcher={"type": "SingleNodeLauncher", "debug": False},
            )
        ],
        DRIVER,
    )
    result = simba_cli("run", scenario, "--run-id", "p", "--json", timeout=300)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["outcome"] == "success"
    assert summary["modules"]["room 1"]["calls"] == 4
    interchange = next((tmp_path / "runs" / "p" / ".simba" / "parsl").rglob("interchange.log"))
    assert f"Bound to port {port} for incoming worker connections" in interchange.read_text()
