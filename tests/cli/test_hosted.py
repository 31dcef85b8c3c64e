"""The rules of ``simba run --api`` that need no process: root, run identity (issue 14)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from conftest import MODULES

from simba.cli.hosted import HostedRequest, derived_run_id, hosted_options, module_root
from simba.scenario import load_scenario

ENTRY = {"name": "m", "priority": 1, "command": str(MODULES / "ok.sh")}


def test_root_dir_wins_over_state_root() -> None:
    """ROOT_DIR (the module's own) before STATE_ROOT (maybe Station's); neither: None."""
    assert module_root({"ROOT_DIR": "/a", "STATE_ROOT": "/b"}) == Path("/a")
    assert module_root({"STATE_ROOT": "/b"}) == Path("/b")
    assert module_root({"ROOT_DIR": "", "HOME": "/h"}) is None


def test_derived_run_id_is_stable_and_follows_the_scenario(
    write_scenario: Callable[..., Path],
) -> None:
    """The same files give the same id (also given as schedule.json); a change, another."""
    directory = write_scenario([ENTRY], name="my scenario")
    first = derived_run_id(load_scenario(directory))
    assert first == derived_run_id(load_scenario(directory / "schedule.json"))
    assert first.startswith("my-scenario-") and len(first) == len("my-scenario-") + 12
    (directory / "schedule.json").write_text(json.dumps({"schedule": [{**ENTRY, "priority": 2}]}))
    assert derived_run_id(load_scenario(directory)) != first


def test_output_base_precedence(write_scenario: Callable[..., Path], tmp_path: Path) -> None:
    """Under a root: -o (relative: under the root), else outputDirectory (relative: under
    the root), else the root itself; --run-id wins over the derived id."""
    root = tmp_path / "root"
    plain = write_scenario([ENTRY])
    _, options = hosted_options(HostedRequest(address=("", 0), scenario=plain), root)
    assert options.output_directory == root and options.run_id is not None
    named = write_scenario(
        [ENTRY],
        driver={"initialTime": "2024-01-01T00:00:00", "endTime": "P1D",
                "scheduleIntervals": [{"tickDuration": "P1D"}], "outputDirectory": "out"},
    )  # fmt: skip
    scenario, options = hosted_options(HostedRequest(address=("", 0), scenario=named), root)
    assert options.output_directory is None and scenario.driver.output_directory == root / "out"
    request = HostedRequest(address=("", 0), scenario=named, output_directory=Path("o"), run_id="r")
    _, options = hosted_options(request, root)
    assert (options.output_directory, options.run_id) == (root / "o", "r")
