"""continueFromTick into a run directory that the reference driver wrote.

``reference_run/output/ref`` is what the reference leaves after a failure at tick 7 (see
its README): one-digit tick directories for a final tick of 10, an absolute ``start``
link, no ``.simba/``.  SIMBA takes it over, carries the state of every call before tick
7 from its status files, and runs on to the same final state as an uninterrupted run.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from conftest import MODULES, SMALL_DRIVER, final_state

Cli = Callable[..., subprocess.CompletedProcess[str]]

FIXTURE = Path(__file__).resolve().parent / "reference_run"


def copy_fixture(tmp_path: Path, **driver: Any) -> tuple[Path, Path]:
    """The fixture in ``tmp_path``, with driver settings changed; (scenario, run directory)."""
    shutil.copytree(FIXTURE, tmp_path / "reference_run", symlinks=True)
    scenario = tmp_path / "reference_run" / "scenario"
    document = json.loads((scenario / "driver.json").read_text())
    (scenario / "driver.json").write_text(json.dumps({**document, **driver}, indent=2))
    return scenario, tmp_path / "reference_run" / "output" / "ref"


def test_the_fixture_has_the_reference_layout() -> None:
    """The committed run directory really is in the reference's layout (else the test is moot)."""
    run_dir = FIXTURE / "output" / "ref"
    assert sorted(p.name for p in run_dir.iterdir()) == [*"012345678", "start"]
    assert (run_dir / "start").readlink() == Path("/home/user/sim/runs/ref/0")
    assert not (run_dir / ".simba").exists()
    failed = json.loads((run_dir / "8" / "status_1.json").read_text())
    assert failed == {"status": "failure"}


def test_continue_from_tick_into_a_reference_run_directory(tmp_path: Path, simba_cli: Cli) -> None:
    """The continuation replays ticks 0..6 from the reference's files, then runs on."""
    scenario, run_dir = copy_fixture(tmp_path, continueFromTick=7)
    result = simba_cli("run", scenario, "--json", cwd=scenario)
    assert result.returncode == 0, result.stderr
    common, modules = final_state(run_dir)
    assert common == {"total": 10}
    assert modules == {"counter": {"count": 10}, "watcher": {"seen": list(range(1, 11))}}
    # SIMBA's own layout now: two-digit ticks, a relative start link, .simba/.
    assert sorted(p.name for p in run_dir.iterdir()) == sorted(
        [f"{tick:02d}" for tick in range(11)] + ["end", "start", ".simba"]
    )
    assert (run_dir / "start").readlink() == Path("00")
    # The calls before tick 7 were not run again: their outputs are the reference's.
    assert json.loads((run_dir / "05" / "module_2.json").read_text())["tickFormat"] == "{:01d}"
    assert json.loads((run_dir / "09" / "module_1.json").read_text())["tickFormat"] == "{:02d}"
    step7 = json.loads((run_dir / "08" / "module_1.json").read_text())
    assert (step7["currentTick"], step7["moduleData"], step7["commonData"]) == (
        7,
        {"count": 7},
        {"total": 7},
    )
    summary = json.loads(result.stdout)
    assert summary["modules"]["counter"]["calls"] == 12
    # Executed: the steps from tick 7 and the end calls; no start call ran again.
    lines = (run_dir / ".simba" / "trace.jsonl").read_text().splitlines()
    executed = [(r["module"], r["mode"], r["tick"]) for r in map(json.loads, lines)]
    assert executed == [
        *[(name, "step", tick) for tick in range(7, 10) for name in ("counter", "watcher")],
        ("counter", "end", 10),
        ("watcher", "end", 10),
    ]


def test_the_continuation_ends_as_an_uninterrupted_run(tmp_path: Path, simba_cli: Cli) -> None:
    """SIMBA's own uninterrupted run of the scenario reaches the same final state."""
    scenario, _ = copy_fixture(tmp_path, runId="plain")
    result = simba_cli("run", scenario, cwd=scenario)  # as the reference is run
    assert result.returncode == 0, result.stderr
    common, modules = final_state(tmp_path / "reference_run" / "output" / "plain")
    assert common == {"total": 10}
    assert modules == {"counter": {"count": 10}, "watcher": {"seen": list(range(1, 11))}}


def test_a_reference_run_directory_without_continue_from_tick_is_not_overwritten(
    tmp_path: Path, simba_cli: Cli
) -> None:
    """Without continueFromTick the reference's run directory is left alone (exit 2)."""
    scenario, run_dir = copy_fixture(tmp_path)
    result = simba_cli("run", scenario, cwd=scenario)  # as the reference is run
    assert result.returncode == 2
    assert sorted(p.name for p in run_dir.iterdir()) == [*"012345678", "start"]


def test_a_missing_status_in_the_reference_run_names_the_call(
    tmp_path: Path, simba_cli: Cli
) -> None:
    """A status file the reference run lacks stops the continuation, naming module and tick."""
    scenario, run_dir = copy_fixture(tmp_path, continueFromTick=7)
    (run_dir / "4" / "status_2.json").unlink()
    result = simba_cli("run", scenario, cwd=scenario)  # as the reference is run
    assert result.returncode != 0
    assert "module 'watcher'" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_renames_are_taken_up_again_after_an_interruption(
    tmp_path: Path, simba_cli: Cli
) -> None:
    """A take-over cut off half-way (some directories renamed, no .simba/) completes."""
    scenario, run_dir = copy_fixture(tmp_path, continueFromTick=7)
    (run_dir / "3").rename(run_dir / "03")
    result = simba_cli("run", scenario, cwd=scenario)  # as the reference is run
    assert result.returncode == 0, result.stderr
    assert final_state(run_dir)[0] == {"total": 10}


def test_ten_modules_files_are_renumbered(
    tmp_path: Path, simba_cli: Cli, write_scenario: Callable[..., Path]
) -> None:
    """The reference's module_1.json .. module_10.json become module_01.json .. module_10.json."""
    entries = [
        {"name": f"m{i}", "priority": 20 - i, "command": str(MODULES / "ok.sh")}
        for i in range(1, 11)
    ]
    driver = {**SMALL_DRIVER, "runId": "ten", "outputDirectory": str(tmp_path / "out")}
    scenario = write_scenario(entries, driver)
    assert simba_cli("run", scenario).returncode == 0
    run_dir = tmp_path / "out" / "ten"
    shutil.rmtree(run_dir / ".simba")  # now as the reference leaves it: no .simba/,
    (run_dir / "start").unlink()  # an absolute start link, unpadded file numbers
    (run_dir / "start").symlink_to("/elsewhere/ten/0")
    for file in sorted(run_dir.glob("*/*_0?*")):
        kind, number = file.name.split("_", 1)
        file.rename(file.with_name(f"{kind}_{number[1:]}"))
    assert (run_dir / "1" / "status_1.json").is_file()
    continued = write_scenario(entries, {**driver, "continueFromTick": 2})
    result = simba_cli("run", continued, "--json")
    assert result.returncode == 0, result.stderr
    assert (run_dir / "1" / "status_01.json").is_file()
    assert not (run_dir / "1" / "status_1.json").exists()
    assert json.loads(result.stdout)["calls"] == 50


def test_both_spellings_of_a_tick_directory_stop_the_take_over(
    tmp_path: Path, simba_cli: Cli
) -> None:
    """Directories 5 and 05 side by side: exit 2 naming both; nothing renamed or run."""
    scenario, run_dir = copy_fixture(tmp_path, continueFromTick=7)
    (run_dir / "05").mkdir()  # beside "5"
    result = simba_cli("run", scenario, cwd=scenario)
    assert result.returncode == 2
    assert "cannot continue the reference driver's run" in result.stderr
    assert "would become" in result.stderr
    assert not (run_dir / ".simba").exists()
    assert sorted(p.name for p in run_dir.iterdir()) == sorted([*"012345678", "05", "start"])
