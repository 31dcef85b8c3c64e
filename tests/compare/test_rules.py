"""Tolerances, key patterns, histories and the baseline format, in-process."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from simba.compare.baseline import dumps, read_baseline
from simba.compare.diff import compare_runs, group_of
from simba.compare.history import MISSING, histories, same
from simba.compare.junit import JUnitCase, JUnitSuite, write_junit
from simba.compare.rules import Rules, Tolerance, load_rules
from simba.compare.runs import CallRecord, RunData
from simba.errors import RunDirectoryError, ScenarioError
from simba.record.reader import StateRow


def row(tick: int, module: str, common: dict, module_data: dict | None = None) -> StateRow:  # type: ignore[type-arg]
    return StateRow(
        phase=1, tick=tick, slot=0, module=module, mode="step", target_tick=tick + 1,
        time=f"2024-01-{tick + 1:02d}T00:00:00", common_data=common, module_data=module_data,
    )  # fmt: skip


def run(*rows: StateRow, outcome: str = "success") -> RunData:
    calls = tuple(
        CallRecord(phase=1, tick=r.tick, slot=0, module=r.module, mode="step",
                   outcome="success", attempts=1)
        for r in rows
    )  # fmt: skip
    return RunData(
        label="x", run_id="x", outcome=outcome, final_tick=9, calls=calls, state=rows, times=()
    )


def test_tolerances_follow_isclose() -> None:
    """|a-b| <= max(absolute, relative * max(|a|,|b|)); NaN equals NaN; exact by default."""
    assert Tolerance().allows(1.0, 1.0) and not Tolerance().allows(1.0, 1.0 + 1e-15)
    assert Tolerance(absolute=0.5).allows(1.0, 1.5) and not Tolerance(absolute=0.5).allows(1, 1.6)
    assert Tolerance(relative=0.1).allows(100.0, 110.0)
    assert not Tolerance(relative=0.1).allows(100.0, 112.0)
    assert Tolerance().allows(math.nan, math.nan)


def test_values_compare_by_kind() -> None:
    """Numbers within tolerance, 1 == 1.0, lists element by element, true is no number,
    a missing key equals nothing, huge integers exactly."""
    loose = Tolerance(absolute=0.1)
    assert same(1, 1.0, Tolerance()) and same([1.0, 2.0], [1.05, 2.0], loose)
    assert not same([1.0], [1.0, 2.0], loose) and not same(True, 1, loose)
    assert not same(MISSING, None, loose) and same({"a": 1.0}, {"a": 1.01}, loose)
    assert not same(10**400, 10**400 + 1, Tolerance()) and same("x", "x", Tolerance())


def test_the_first_matching_key_rule_wins_and_ignores_win_over_all() -> None:
    """Rules in file order; a key path selects what is beneath it; globs; ignore."""
    rules = Rules(
        tolerance=Tolerance(absolute=1.0),
        keys=(("epidemic.I", {"relative": 0.5}), ("epidemic", {"absolute": 2.0})),
        ignore=("sir:*",),
    )
    assert rules.tolerance_of("epidemic.I") == Tolerance(absolute=1.0, relative=0.5)
    assert rules.tolerance_of("epidemic.R") == Tolerance(absolute=2.0)
    assert rules.tolerance_of("epidemicX") == Tolerance(absolute=1.0)
    assert rules.tolerance_of("sir:beta") is None
    later = rules.with_options(absolute=None, relative=0.2, ignore=("epidemic.R",))
    assert later.tolerance_of("epidemic.R") is None
    assert later.tolerance_of("x") == Tolerance(absolute=1.0, relative=0.2)


def test_a_rules_file_is_validated(tmp_path: Path) -> None:
    """A rules file with a wrong key or a negative tolerance: ScenarioError naming both."""
    path = tmp_path / "rules.json"
    path.write_text(json.dumps({"relative": 0.1, "keys": {"a": {"absolute": 1}}}))
    assert load_rules(path).tolerance_of("a") == Tolerance(absolute=1, relative=0.1)
    path.write_text(json.dumps({"relative": -1, "keys": {"a": {}}, "tolerance": 1}))
    with pytest.raises(ScenarioError) as caught:
        load_rules(path)
    text = str(caught.value)
    assert "relative" in text and "keys.a" in text and "tolerance" in text


def test_histories_flatten_and_moduledata_replaces() -> None:
    """Nested commonData becomes key paths; a moduleData key a later call drops is MISSING."""
    found = histories(
        [
            row(0, "m", {"grid": {"load": 3}}, {"a": 1, "b": {"c": 2}}),
            row(1, "m", {"grid": {"load": 4}}, {"a": 2}),
        ]
    )
    assert found["grid.load"] == {
        (1, 0): ("2024-01-01T00:00:00", 3),
        (1, 1): ("2024-01-02T00:00:00", 4),
    }
    assert found["m:b.c"][(1, 1)][1] is MISSING
    assert group_of("grid.load") == "commonData.grid" and group_of("m:b.c") == "moduleData.m"


def test_the_first_differing_tick_is_found_with_carry_forward() -> None:
    """A sets x at ticks 0 and 5; B at 0, 3 and 5: B's change at 3 is the first
    difference (A's value carried forward), counted at one point."""
    a = run(row(0, "m", {"x": 1.0}), row(5, "m", {"x": 2.0}))
    b = run(row(0, "m", {"x": 1.0}), row(3, "m", {"x": 9.0}), row(5, "m", {"x": 2.0}))
    result = compare_runs(a, b, Rules())
    (group,) = result.groups
    (difference,) = group.differences
    assert (difference.tick, difference.a, difference.b, difference.points) == (3, 1.0, 9.0, 1)
    assert result.calls is not None and "call 2" in (result.calls.difference or "")
    assert compare_runs(a, a, Rules()).equal
    assert not compare_runs(a, run(*a.state, outcome="failed"), Rules()).equal


def test_a_baseline_round_trips(tmp_path: Path) -> None:
    """dumps then read_baseline gives the same runs; one row per line; bad files: exit 2."""
    a = run(row(0, "m", {"x": 1.0}, {"k": [1, 2]}), row(1, "m", {"x": 2.5}))
    path = tmp_path / "b.json"
    path.write_text(dumps({"": a}))
    (back,) = read_baseline(path).values()
    assert back.state == a.state and back.calls == a.calls and back.outcome == "success"
    assert sum('"tick":' in line for line in path.read_text().splitlines()) == 4
    assert compare_runs(a, back, Rules()).equal
    path.write_text(json.dumps({"simbaBaseline": 99}))
    with pytest.raises(RunDirectoryError, match="not a SIMBA baseline"):
        read_baseline(path)


def test_junit_text_is_cleaned_of_what_xml_cannot_carry(tmp_path: Path) -> None:
    """Control characters in a failure (a module's output) do not break the XML."""
    import xml.etree.ElementTree as ET

    case = JUnitCase(name="r\x00", classname="c", failure="bad \x1b[31m", details="x\x07y")
    path = tmp_path / "j.xml"
    write_junit(path, [JUnitSuite(name="s", cases=(case,), time=1.5)], name="t")
    root = ET.parse(path).getroot()
    assert root.get("failures") == "1" and root.get("time") == "1.500"
    from helpers import validate_junit

    validate_junit(path)


def test_a_cell_on_one_side_only_differs() -> None:
    """Sweeps compare cell by cell: a cell only B has is a difference, named as such."""
    from simba.compare.diff import compare_sides
    from simba.compare.render import text_lines, verdict

    a = run(row(0, "m", {"x": 1.0}))
    result = compare_sides({"c1": a}, {"c1": a, "c2": a}, Rules(), labels=("A", "B"))
    assert [r.equal for r in result.runs] == [True, False]
    assert verdict(result) == "different in 1 of 2 cells: c2"
    assert any("only B has this run" in line for line in text_lines(result))


def test_a_side_may_be_a_run_database_file(tmp_path: Path) -> None:
    """A run.db given as a file is read as the run it records, not as a baseline."""
    import sqlite3

    from simba.compare.sides import load_side
    from simba.record.schema import TABLES

    database = tmp_path / "run.db"
    with sqlite3.connect(database) as connection:
        connection.executescript(TABLES)
        connection.execute("INSERT INTO meta VALUES ('outcome', '\"success\"')")
    (side,) = load_side(database).values()
    assert side.outcome == "success" and side.calls == () and side.state == ()
