"""The driver's seed: derived per module into every config document, so runs repeat."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from conftest import run_cli
from helpers import compare, noisy_scenario

from simba.engine.protocol import derive_seed


def run(scenario: Path, run_id: str, cwd: Path) -> Path:
    result = run_cli("run", scenario, "--run-id", run_id, "-o", cwd / "runs", cwd=cwd)
    assert result.returncode == 0, result.stderr
    return cwd / "runs" / run_id


def seeds_seen(run_dir: Path) -> dict[str, set[object]]:
    """The seed each module received, from the moduleData it returned (run.db)."""
    from simba.record.reader import open_record

    with open_record(run_dir) as record:
        seen: dict[str, set[object]] = {}
        for row in record.state():
            assert row.module_data is not None
            seen.setdefault(row.module, set()).add(row.module_data["seed"])
    return seen


def test_the_same_seed_repeats_a_run_and_another_seed_does_not(tmp_path: Path) -> None:
    """Two runs with seed 7 compare equal; a run with seed 8 differs; without a seed,
    two runs of the stochastic modules differ (so the equality is the seed's doing)."""
    seven = run(noisy_scenario(tmp_path / "s7", seed=7), "seven", tmp_path)
    again = run(noisy_scenario(tmp_path / "s7b", seed=7), "again", tmp_path)
    eight = run(noisy_scenario(tmp_path / "s8", seed=8), "eight", tmp_path)
    assert compare(seven, again, cwd=tmp_path)[0] == 0
    status, out, _ = compare(seven, eight, cwd=tmp_path)
    assert status == 1 and "first:value: first differs at tick 0" in out
    loose = [run(noisy_scenario(tmp_path / f"n{i}", seed=None), f"n{i}", tmp_path) for i in (1, 2)]
    assert compare(*loose, cwd=tmp_path)[0] == 1


def test_modules_get_different_seeds_derived_as_documented(tmp_path: Path) -> None:
    """Each module's config carries its own seed: SHA-256 of "<seed>:<module>", first 4
    bytes big-endian, top bit cleared; the two modules' seeds differ."""
    run_dir = run(noisy_scenario(tmp_path / "s", seed=7), "s", tmp_path)
    seen = seeds_seen(run_dir)
    for module in ("first", "second"):
        digest = hashlib.sha256(f"7:{module}".encode()).digest()
        assert seen[module] == {int.from_bytes(digest[:4], "big") & 0x7FFFFFFF}
        assert seen[module] == {derive_seed(7, module)}
    assert seen["first"] != seen["second"]
    configs = sorted(run_dir.glob("*/module_*.json"))
    assert configs and all("seed" in json.loads(p.read_text()) for p in configs)


def test_no_seed_no_key(tmp_path: Path) -> None:
    """Without a driver seed the config documents have no seed key (as the reference)."""
    run_dir = run(noisy_scenario(tmp_path / "s", seed=None), "s", tmp_path)
    configs = sorted(run_dir.glob("*/module_*.json"))
    assert configs and not any("seed" in json.loads(p.read_text()) for p in configs)


def test_a_negative_seed_is_a_scenario_error(tmp_path: Path) -> None:
    """seed must be a non-negative integer: exit 2 naming driver.json and seed."""
    scenario = noisy_scenario(tmp_path / "s", seed=None)
    driver = json.loads((scenario / "driver.json").read_text())
    (scenario / "driver.json").write_text(json.dumps({**driver, "seed": -1}))
    result = run_cli("validate", scenario, cwd=tmp_path)
    assert result.returncode == 2
    assert "seed" in result.stderr + result.stdout
