"""Malformed scenarios (DESIGN §2): exit 2, every problem named with file and JSON path, no traces.

The corpus in ``tests/bad_scenarios/`` lists one case per line in its README.txt.  Every case
goes through ``simba validate`` and ``simba run`` in-process (the real ``main``, as the console
script calls it); a representative subset also runs as real processes.  A hypothesis fuzz test
checks that no document makes the loader raise anything but ScenarioError.
"""

from __future__ import annotations

import copy
import json
import math
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import MODULES, TESTS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simba.cli import main
from simba.errors import ScenarioError
from simba.plan import Plan
from simba.scenario import Scenario, load_scenario

CORPUS = TESTS / "bad_scenarios"
OK = str(MODULES / "ok.sh")


@dataclass(frozen=True)
class Case:
    """One corpus entry as its README.txt line describes it."""

    entry: str
    """``NAME.json`` (one file) or ``NAME/`` (driver.json + schedule.json)."""
    file: str
    """The file name the message must contain."""
    expect: tuple[str, ...]
    """Further text the message must contain: JSON path, module, hint."""
    description: str

    @property
    def path(self) -> Path:
        return CORPUS / self.entry.rstrip("/")

    @property
    def id(self) -> str:
        return self.entry.rstrip("/").removesuffix(".json")


def read_cases() -> list[Case]:
    cases = []
    for line in (CORPUS / "README.txt").read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        entry, file, expect, description = (part.strip() for part in line.split(" | "))
        texts = () if expect == "-" else tuple(t.strip() for t in expect.split(";"))
        cases.append(Case(entry, file, texts, description))
    return cases


CASES = read_cases()
BY_ID = {case.id: case for case in CASES}

#: Cases also run as real `python -m simba` processes (all of them would take ~90 s).
PROCESS_CASES = [
    "invalid_json",
    "not_utf8",
    "deeply_nested",
    "huge_integer",
    "missing_driver_json",
    "both_files_invalid",
    "unknown_key_typo",
    "tick_duration_zero",
    "tick_duration_overflow",
    "end_time_overflow",
    "final_tick_past_9999",
    "interval_gap",
    "duplicate_priorities",
    "depends_on_cycle",
    "command_not_executable",
    "run_id_dotdot",
    "timeout_zero",
    "env_non_string",
]


def corpus_snapshot() -> list[str]:
    return sorted(str(p.relative_to(CORPUS)) for p in CORPUS.rglob("*"))


def invoke(*args: str | Path) -> tuple[int | str | None, str, str]:
    """Run simba's console entry point in-process: (exit status, stdout, stderr)."""
    runner = CliRunner()
    code: int | str | None = None
    with runner.isolation() as (out, err, _):
        try:
            main([str(a) for a in args])
        except SystemExit as exc:
            code = exc.code
    return code, out.getvalue().decode(), err.getvalue().decode()


def assert_rejected(case: Case, code: int | str | None, out: str, err: str, cwd: Path) -> None:
    assert code == 2, err
    assert "Traceback" not in out + err
    assert case.file in err, f"the message does not name {case.file}"
    assert case.path.name in err
    for text in case.expect:
        assert text in err, f"the message lacks {text!r}"
    assert sorted(cwd.iterdir()) == [], "something was written into the working directory"


# -- the corpus ------------------------------------------------------------------------------


def test_corpus_matches_its_readme() -> None:
    """README.txt lists every corpus entry exactly once, and the corpus has at least 60 cases."""
    entries = sorted(p.name + ("/" if p.is_dir() else "") for p in CORPUS.iterdir())
    entries.remove("README.txt")
    assert sorted(case.entry for case in CASES) == entries
    assert len(CASES) >= 60
    assert all(case.description for case in CASES)
    assert set(PROCESS_CASES) <= set(BY_ID)


def test_not_executable_module_really_is_not() -> None:
    """The command_not_executable case relies on a module file without execute permission."""
    assert not (MODULES / "loader_not_executable.sh").stat().st_mode & 0o111


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_validate_and_run_reject(
    case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`simba validate` and `simba run` exit 2 naming file and place, and write nothing."""
    before = corpus_snapshot()
    monkeypatch.chdir(tmp_path)
    for command in ("validate", "run"):
        code, out, err = invoke(command, case.path)
        assert_rejected(case, code, out, err, tmp_path)
    assert corpus_snapshot() == before


@pytest.mark.parametrize("case_id", PROCESS_CASES)
def test_real_process_rejects(
    case_id: str, tmp_path: Path, simba_cli: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    """The simba process exits 2 without a traceback and leaves its working directory empty."""
    case = BY_ID[case_id]
    for command in ("validate", "run"):
        cwd = tmp_path / command
        cwd.mkdir()
        result = simba_cli(command, case.path, cwd=cwd)
        assert_rejected(case, result.returncode, result.stdout, result.stderr, cwd)


# -- messages --------------------------------------------------------------------------------


def write_pair(directory: Path, driver: Any, schedule: Any) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "driver.json").write_text(json.dumps(driver))
    (directory / "schedule.json").write_text(json.dumps(schedule))
    return directory


DRIVER = {
    "initialTime": "2024-01-01T00:00:00",
    "endTime": "2024-01-04T00:00:00",
    "scheduleIntervals": [{"tickDuration": "P1D"}],
}


def test_all_problems_reported_at_once(tmp_path: Path) -> None:
    """Three independent mistakes in two files are reported together in one ScenarioError."""
    directory = write_pair(
        tmp_path / "s",
        {**DRIVER, "endTime": "next tuesday"},
        {
            "schedule": [
                {"name": "a", "command": OK, "priority": 2, "tickIncrement": -1},
                {"name": "b", "command": "./loader-missing.sh", "priority": 1},
            ]
        },
    )
    with pytest.raises(ScenarioError) as info:
        load_scenario(directory)
    where = {(Path(p.file).name, p.path) for p in info.value.problems}
    assert where == {
        ("driver.json", "endTime"),
        ("schedule.json", "schedule[0].tickIncrement"),
        ("schedule.json", "schedule[1].command"),
    }
    assert "3 problems" in str(info.value)


def test_typo_suggests_the_known_key(tmp_path: Path) -> None:
    """An unknown key close to a known one names the known one as a suggestion."""
    directory = write_pair(
        tmp_path / "s",
        DRIVER,
        {"schedule": [{"name": "a", "command": OK, "priority": 1, "tickIncrment": 2}]},
    )
    with pytest.raises(ScenarioError) as info:
        load_scenario(directory)
    (problem,) = info.value.problems
    assert problem.path == "schedule[0]"
    assert "unknown key 'tickIncrment' (did you mean 'tickIncrement'?)" in problem.message


def test_cycle_message_names_the_cycle(tmp_path: Path) -> None:
    """A dependency cycle is reported once, listing its modules in cycle order."""
    directory = write_pair(
        tmp_path / "s",
        DRIVER,
        {
            "schedule": [
                {"name": "a", "command": OK, "priority": 3, "dependsOn": ["c"]},
                {"name": "b", "command": OK, "priority": 2, "dependsOn": ["a"]},
                {"name": "c", "command": OK, "priority": 1, "dependsOn": ["b"]},
                {"name": "d", "command": OK, "priority": 0, "dependsOn": ["a"]},
            ]
        },
    )
    with pytest.raises(ScenarioError) as info:
        load_scenario(directory)
    (problem,) = info.value.problems
    assert "cycle" in problem.message
    rotations = ("a -> b -> c -> a", "b -> c -> a -> b", "c -> a -> b -> c")
    assert any(r in problem.message for r in rotations), problem.message
    assert "d" not in problem.message.split(":", 1)[1].split(";")[0]


def test_oversized_scenario_file(tmp_path: Path) -> None:
    """A scenario file over 16 MiB is refused with one problem instead of being parsed."""
    path = tmp_path / "big.json"
    padding = " " * (16 * 1024 * 1024)
    path.write_text('{"driver": {}, "schedule": []' + padding + "}")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    (problem,) = info.value.problems
    assert problem.file == str(path)
    assert "16 MiB" in problem.message


def test_missing_scenario_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A scenario path that does not exist exits 2 naming it."""
    monkeypatch.chdir(tmp_path)
    code, _, err = invoke("validate", tmp_path / "nowhere.json")
    assert code == 2
    assert "nowhere.json" in err


# -- fuzzing the loader ----------------------------------------------------------------------

BASE: dict[str, Any] = {
    "driver": {
        "initialTime": "2024-01-01T00:00:00",
        "endTime": "2024-01-05T00:00:00",
        "initialTick": 0,
        "scheduleIntervals": [
            {"endTick": 2, "tickDuration": "PT1H"},
            {"startTick": 3, "tickDuration": "P1D"},
        ],
        "outputDirectory": "out",
        "runId": "r1",
        "cellId": "c1",
    },
    "schedule": [
        {
            "name": "alpha",
            "command": OK,
            "priority": "Infinity",
            "startTick": 0,
            "endTick": 10,
            "tickIncrement": 1,
            "dependsOn": [],
            "updateCommonData": True,
            "storeFront": False,
            "moduleData": {"a": 1},
            "env": {"X": "1"},
            "timeout": "PT5M",
            "retries": 1,
            "workingDirectory": ".",
        },
        {
            "name": "beta",
            "command": [OK, "arg"],
            "priority": 2,
            "dependsOn": ["alpha"],
            "timeout": 30,
        },
        {"name": "gamma", "command": "sh -c true", "priority": -1, "tickIncrement": 0},
    ],
    "commonData": {"k": 1},
}

KNOWN_KEYS = sorted(
    {
        *BASE["driver"],
        "continueFromTick",
        "tickDuration",
        "startTick",
        "endTick",
        *(key for entry in BASE["schedule"] for key in entry),
        "type",
        "$schema",
        "driver",
        "schedule",
        "commonData",
    }
)

TRICKY = st.sampled_from(
    [
        "",
        " ",
        "P",
        "PT",
        "P1D",
        "PT0S",
        "P0D",
        "PT10M",
        "P1M",
        "P1Y",
        "P1W",
        "P99999Y",
        "PT" + "9" * 30 + "S",
        "P" + "9" * 30 + "M",
        "P" + "9" * 30 + "D",
        "-P1D",
        "2024-01-01T00:00:00",
        "2024-01-01T00:00:00+02:00",
        "2024-01-01T00:00:00Z",
        "2024-02-30T00:00:00",
        "2024-01-01T24:00:00",
        "9999-12-31T23:59:59",
        "0001-01-01T00:00:00",
        "2024",
        "Infinity",
        "-Infinity",
        "NaN",
        "../x",
        "a b",
        "alpha",
        "beta",
        "gamma",
        "local",
        "parsl",
        "resident",
        "/bin/true",
        "true",
        "./missing.sh",
        "'unbalanced",
        "a | b",
        "X=1",
        "~",
        "/",
        ".",
        "..",
    ]
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 30),
    st.integers(),
    st.sampled_from([10**30, -(10**30), 2**63, 1e308, -1e308, 0.5, -0.0]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
    TRICKY,
)
LEAVES = st.one_of(
    st.integers(-5, 30),
    TRICKY,
    st.sampled_from([0, 1, 2, 3, 10**6, 10**30, -1, True, False, None, "P1D", "PT1H"]),
)
KEYS = st.one_of(st.sampled_from(KNOWN_KEYS), st.text(max_size=6))
VALUES = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(KEYS, children, max_size=3),
    max_leaves=6,
)


def places(node: Any) -> list[tuple[Any, Any]]:
    """Every (container, key) pair in a JSON document."""
    found: list[tuple[Any, Any]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            found.append((node, key))
            found += places(value)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found.append((node, index))
            found += places(value)
    return found


def containers(node: Any) -> list[Any]:
    if isinstance(node, dict):
        return [node, *(c for v in node.values() for c in containers(v))]
    if isinstance(node, list):
        return [node, *(c for v in node for c in containers(v))]
    return []


@st.composite
def mutated(draw: Any) -> tuple[bool, Any, bytes | None]:
    """(single-file form?, document, raw bytes replacing the JSON text or None)."""
    doc = copy.deepcopy(BASE)
    for _ in range(draw(st.integers(1, 4))):
        # Mostly small changes to single values, so that many documents stay loadable
        # and reach the semantic checks, the clock and the planner.
        action = draw(st.sampled_from(["same"] * 6 + ["leaf"] * 2 + ["replace", "delete", "add"]))
        if action in ("same", "leaf"):
            leaves = [(c, k) for c, k in places(doc) if not isinstance(c[k], (dict, list))]
            if leaves:
                container, key = draw(st.sampled_from(leaves))
                old = container[key]
                if action == "leaf":
                    container[key] = draw(st.one_of(LEAVES, SCALARS))
                elif isinstance(old, str):
                    container[key] = draw(st.one_of(TRICKY, st.text(max_size=8)))
                elif isinstance(old, bool):
                    container[key] = not old
                elif isinstance(old, int):
                    container[key] = draw(st.one_of(st.integers(-5, 30), st.integers()))
            continue
        if action == "add":
            target = draw(st.sampled_from(containers(doc)))
            if isinstance(target, dict):
                target[draw(KEYS)] = draw(VALUES)
            else:
                target.insert(draw(st.integers(0, len(target))), draw(VALUES))
            continue
        spots = places(doc)
        if not spots:
            break
        container, key = draw(st.sampled_from(spots))
        if action == "delete":
            del container[key]
        else:
            container[key] = draw(TRICKY if action == "tricky" else VALUES)
    raw = None
    if draw(st.integers(0, 40)) == 17:
        text = json.dumps(doc).encode()
        cut = draw(st.integers(0, len(text)))
        raw = text[:cut] + draw(st.binary(max_size=4)) + text[cut + 1 :]
    return draw(st.booleans()), doc, raw


def write_mutated(directory: Path, single: bool, doc: Any, raw: bytes | None) -> Path:
    if single:
        path = directory / "scenario.json"
        path.write_bytes(raw if raw is not None else json.dumps(doc).encode())
        return path
    if isinstance(doc, dict) and "driver" in doc:
        (directory / "driver.json").write_text(json.dumps(doc["driver"]))
        schedule = {k: v for k, v in doc.items() if k != "driver"}
    else:
        schedule = doc
    (directory / "schedule.json").write_bytes(
        raw if raw is not None else json.dumps(schedule).encode()
    )
    return directory


def check_like_validate(scenario: Scenario) -> None:
    """What `simba validate` computes from a loaded scenario; none of it may raise."""
    plan = Plan(scenario)
    timeline = scenario.timeline
    assert plan.call_count >= 2 * len(scenario.modules)
    timeline.time(timeline.initial_tick).isoformat()
    timeline.time(timeline.final_tick).isoformat()
    timeline.format_tick(timeline.final_tick)
    for batch in islice(plan.batches(), 5):
        for call in batch.calls:
            if call.target_tick is not None:
                timeline.time(call.target_tick)


@settings(
    max_examples=2000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(mutated())
def test_loader_raises_only_scenario_error(case: tuple[bool, Any, bytes | None]) -> None:
    """Any mutation of a valid scenario loads, or raises ScenarioError listing its problems."""
    single, doc, raw = case
    with tempfile.TemporaryDirectory() as tmp:
        path = write_mutated(Path(tmp), single, doc, raw)
        try:
            scenario = load_scenario(path, cwd=Path(tmp))
        except ScenarioError as exc:
            assert exc.problems
            assert all(p.file and p.message for p in exc.problems)
            assert str(exc)
            return
    check_like_validate(scenario)
    assert all(not math.isnan(m.priority) for m in scenario.modules)
