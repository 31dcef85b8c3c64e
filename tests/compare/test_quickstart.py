"""simba compare on real runs of the quickstart: equal, different, within tolerance."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import compare, run_quickstart, validate_junit


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The quickstart three times: twice as it is, once with sir's beta a little higher."""
    base = tmp_path_factory.mktemp("quickstart")
    return {
        "a": run_quickstart(base, "a"),
        "b": run_quickstart(base, "b"),
        "beta": run_quickstart(base, "beta", sir={"beta": 0.3 + 1e-9}),
        "gamma": run_quickstart(base, "gamma", sir={"gamma": 0.12}),
    }


def test_the_quickstart_against_itself_is_equal(runs: dict[str, Path]) -> None:
    """Two runs of the same scenario: exit 0, and the summary says equal."""
    status, out, err = compare(runs["a"], runs["b"], cwd=runs["a"].parent)
    assert status == 0, out + err
    assert "equal within tolerance" in out.splitlines()[0]
    assert "time per module (for information only)" in out


def test_a_changed_parameter_names_the_keys_and_the_first_tick(runs: dict[str, Path]) -> None:
    """sir's gamma changed: exit 1 naming sir:gamma and the epidemic keys, each with the
    first tick where it differs (tick 0: gamma acts from sir's first step on)."""
    status, out, err = compare(runs["a"], runs["gamma"], cwd=runs["a"].parent)
    assert status == 1, out + err
    assert "different" in out.splitlines()[0]
    assert "sir:gamma: first differs at tick 0 (2024-03-01T00:00:00): 0.1 vs 0.12" in out
    assert "epidemic.I: first differs at tick 0 " in out
    assert "sir:beta" not in out  # an unchanged key is not named


def test_a_difference_within_tolerance_is_equal(runs: dict[str, Path], tmp_path: Path) -> None:
    """beta raised by 1e-9: exact comparison finds it (exit 1); a relative tolerance of
    1e-6 in a rules file accepts it (exit 0); a per-key rule can make one key exact again."""
    status, out, _ = compare(runs["a"], runs["beta"], cwd=tmp_path)
    assert status == 1 and "sir:beta: first differs at tick 0" in out
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps({"relative": 1e-6}))
    status, out, err = compare(runs["a"], runs["beta"], "--rules", rules, cwd=tmp_path)
    assert status == 0, out + err
    rules.write_text(json.dumps({"relative": 1e-6, "keys": {"sir:beta": {"relative": 0}}}))
    status, out, _ = compare(runs["a"], runs["beta"], "--rules", rules, cwd=tmp_path)
    assert status == 1
    differing = [line for line in out.splitlines() if "first differs" in line]
    assert len(differing) == 1 and "sir:beta" in differing[0]
    status, _, _ = compare(runs["a"], runs["beta"], "--relative", "1e-6", cwd=tmp_path)
    assert status == 0


def test_ignored_keys_are_left_out(runs: dict[str, Path], tmp_path: Path) -> None:
    """Ignoring every key that gamma changes leaves the calls, which are the same: exit 0."""
    ignore = ["--ignore", "epidemic", "--ignore", "sir:*", "--ignore", "policy:*"]
    ignore += ["--ignore", "contactReduction"]
    status, out, err = compare(runs["a"], runs["gamma"], *ignore, cwd=tmp_path)
    assert status == 0, out + err


def test_json_and_markdown(runs: dict[str, Path], tmp_path: Path) -> None:
    """--json gives every differing key with its first tick; --markdown a table for a PR."""
    status, out, _ = compare(runs["a"], runs["gamma"], "--json", cwd=tmp_path)
    assert status == 1
    document = json.loads(out)
    assert document["equal"] is False
    (run,) = document["runs"]
    groups = {group["name"]: group for group in run["groups"]}
    (gamma,) = [d for d in groups["moduleData.sir"]["differences"] if d["key"] == "sir:gamma"]
    assert (gamma["firstTick"], gamma["a"], gamma["b"]) == (0, 0.1, 0.12)
    assert run["calls"]["difference"] is None
    status, out, _ = compare(runs["a"], runs["gamma"], "--markdown", cwd=tmp_path)
    assert status == 1
    assert out.startswith("### ❌ simba compare: different")
    assert "| cell | difference |" in out and "sir:gamma: first differs at tick 0" in out


def test_a_baseline_saved_and_compared(runs: dict[str, Path], tmp_path: Path) -> None:
    """A baseline of run a is small, canonical and self-contained; compared with run b it
    is equal, with the changed run different; a baseline compared with itself is equal."""
    baseline = tmp_path / "baseline" / "quickstart.json"
    result = compare_cli("baseline", "save", runs["a"], baseline, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "saved 1 run of" in result.stdout
    assert baseline.stat().st_size < 200_000
    text = baseline.read_text()
    again = tmp_path / "again.json"
    assert compare_cli("baseline", "save", runs["a"], again, cwd=tmp_path).returncode == 0
    assert again.read_text() == text  # the same bytes for the same run
    assert compare(baseline, runs["b"], cwd=tmp_path)[0] == 0
    status, out, _ = compare(baseline, runs["gamma"], cwd=tmp_path)
    assert status == 1 and "sir:gamma: first differs at tick 0" in out
    assert compare(baseline, again, cwd=tmp_path)[0] == 0


def test_compare_junit_validates(runs: dict[str, Path], tmp_path: Path) -> None:
    """--junit: a test case for the calls and one per key group; the changed groups fail
    with the key and tick; the file is valid against the JUnit schema."""
    import xml.etree.ElementTree as ET

    junit = tmp_path / "compare.xml"
    status, _, _ = compare(runs["a"], runs["gamma"], "--junit", junit, cwd=tmp_path)
    assert status == 1
    validate_junit(junit)
    cases = {case.get("name"): case for case in ET.parse(junit).iter("testcase")}
    assert {"outcome and calls", "commonData.epidemic", "moduleData.sir"} <= set(cases)
    assert cases["outcome and calls"].find("failure") is None
    failure = cases["moduleData.sir"].find("failure")
    assert failure is not None and "sir:gamma: first differs at tick 0" in (failure.text or "")


def test_bad_usage_exits_2(runs: dict[str, Path], tmp_path: Path) -> None:
    """A missing side, a bad rules file, --json with --markdown: exit 2 and a message."""
    status, _, err = compare(runs["a"], tmp_path / "nothing", cwd=tmp_path)
    assert status == 2 and "does not exist" in err and "Traceback" not in err
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps({"relative": -1, "tolerance": 3}))
    status, _, err = compare(runs["a"], runs["b"], "--rules", rules, cwd=tmp_path)
    assert status == 2 and str(rules) in err and "relative" in err and "tolerance" in err
    status, _, err = compare(runs["a"], runs["b"], "--json", "--markdown", cwd=tmp_path)
    assert status == 2
    not_baseline = tmp_path / "x.json"
    not_baseline.write_text("{}")
    status, _, err = compare(not_baseline, runs["b"], cwd=tmp_path)
    assert status == 2 and "is not a SIMBA baseline" in err


def compare_cli(*args: str | Path, cwd: Path):  # type: ignore[no-untyped-def]
    from conftest import run_cli

    return run_cli(*args, cwd=cwd)
