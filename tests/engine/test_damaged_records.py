"""Damaged ``.simba/`` records on resume (issue 12, item 11): refused, never success, no traceback.

An interrupted run (module ``a`` fails once at tick 2) leaves checkpoint.json at step 2,
run.json and trace.jsonl.  Each test damages a copy of them; ``simba run --resume`` must
then exit 2 naming the damaged file, or (for the unchanged copy) finish the run correctly.
The real-process cases are parametrized; a hypothesis fuzz test mutates the checkpoint
and the trace in-process through :func:`simba.engine.start.open_run`.
"""

from __future__ import annotations

import copy
import hashlib
import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import MODULES, SMALL_DRIVER, run_cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simba.engine.journal import read_trace
from simba.engine.rundir import RunDirectory
from simba.engine.start import open_run
from simba.errors import CheckpointError, RunDirectoryError
from simba.jsonfile import dump_json
from simba.plan import Plan
from simba.scenario import Scenario, load_scenario

SCRIPTED = str(MODULES / "scripted.py")
OK = str(MODULES / "ok.sh")


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(scenario directory, run directory) of a run stopped by a failure at step 2."""
    base = tmp_path_factory.mktemp("interrupted")
    scenario = base / "scenario"
    scenario.mkdir()
    failing = {"onTick": 2, "onMode": "step", "attempts": [{"exit": 3}]}
    schedule = {
        "schedule": [
            {"name": "a", "priority": 2, "command": SCRIPTED, "moduleData": failing},
            {"name": "b", "priority": 1, "command": OK, "tickIncrement": 2},
        ],
        "commonData": {"x": 1},
    }
    failing["counter"] = str(base / "counter")
    (scenario / "driver.json").write_text(json.dumps(SMALL_DRIVER))
    (scenario / "schedule.json").write_text(json.dumps(schedule))
    result = run_cli("run", "--output-directory", base / "out", "--run-id", "r", scenario, cwd=base)
    assert result.returncode == 1, result.stderr
    run_dir = base / "out" / "r"
    checkpoint = json.loads((run_dir / ".simba" / "checkpoint.json").read_text())
    assert checkpoint["position"] == {"mode": "step", "tick": 2}
    return scenario, run_dir


def copy_run(interrupted: tuple[Path, Path], target: Path) -> Path:
    """A fresh copy of the interrupted run directory."""
    shutil.copytree(interrupted[1], target, symlinks=True)
    return target


def signed(document: dict[str, Any]) -> bytes:
    """``document`` as SIMBA writes a checkpoint: with a digest that matches it."""
    body = dump_json({k: v for k, v in document.items() if k != "digest"}, indent=None)
    return body[:-1] + f', "digest": "{hashlib.sha256(body).hexdigest()}"}}'.encode()


def edit_checkpoint(run_dir: Path, change: Callable[[dict[str, Any]], None]) -> None:
    """Change the checkpoint and give it a matching digest: only the other checks can refuse."""
    path = run_dir / ".simba" / "checkpoint.json"
    document = json.loads(path.read_text())
    change(document)
    path.write_bytes(signed(document))


def set_at(path: tuple[str, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def change(document: dict[str, Any]) -> None:
        for key in path[:-1]:
            document = document[key]
        document[path[-1]] = value

    return change


def delete(key: str) -> Callable[[dict[str, Any]], None]:
    return lambda document: document.pop(key)


#: name -> (file under .simba/ to damage, how, text the refusal must contain)
DAMAGE: dict[str, tuple[str, Callable[[Path], None], str]] = {
    "digest_mismatch": (
        "checkpoint.json",
        lambda d: (d / ".simba" / "checkpoint.json").write_text(
            (d / ".simba" / "checkpoint.json").read_text().replace('"x": 1', '"x": 7')
        ),
        "its digest does not match",
    ),
    "tick_far_ahead": (
        "checkpoint.json",
        lambda d: edit_checkpoint(d, set_at(("position", "tick"), 10**9)),
        "no batch of the run's plan",
    ),
    "negative_tick": (
        "checkpoint.json",
        lambda d: edit_checkpoint(d, set_at(("position", "tick"), -1)),
        "no batch of the run's plan",
    ),
    "start_at_wrong_tick": (
        "checkpoint.json",
        lambda d: edit_checkpoint(d, set_at(("position",), {"mode": "start", "tick": 1})),
        "no batch",
    ),
    "done_before_the_end": (
        "checkpoint.json",
        lambda d: edit_checkpoint(d, set_at(("position",), {"mode": "done", "tick": 1})),
        "no batch",
    ),
    "unknown_mode": (
        "checkpoint.json",
        lambda d: edit_checkpoint(d, set_at(("position", "mode"), "later")),
        "position.mode",
    ),
    "tick_as_text": (
        "checkpoint.json",
        lambda d: edit_checkpoint(d, set_at(("position", "tick"), "2")),
        "position.tick",
    ),
    "no_position": (
        "checkpoint.json",
        lambda d: edit_checkpoint(d, delete("position")),
        "position",
    ),
    "modules_a_list": (
        "checkpoint.json",
        lambda d: edit_checkpoint(d, set_at(("modules",), [])),
        "modules",
    ),
    "module_missing": (
        "checkpoint.json",
        lambda d: edit_checkpoint(d, lambda doc: doc["modules"].pop("b")),
        "scenario's modules",
    ),
    "module_unknown": (
        "checkpoint.json",
        lambda d: edit_checkpoint(d, lambda doc: doc["modules"].update(c=doc["modules"]["b"])),
        "scenario's modules",
    ),
    "last_run_time_words": (
        "checkpoint.json",
        lambda d: edit_checkpoint(d, set_at(("modules", "a", "lastRunTime"), "yesterday")),
        "yesterday",
    ),
    "wall_time_negative": (
        "checkpoint.json",
        lambda d: edit_checkpoint(d, set_at(("modules", "a", "wallTime"), -1)),
        "modules.a.wallTime",
    ),
    "calls_done_too_many": (
        "checkpoint.json",
        lambda d: edit_checkpoint(d, set_at(("callsDone",), 10**6)),
        "callsDone",
    ),
    "trace_offset_past_end": (
        "checkpoint.json",
        lambda d: edit_checkpoint(d, set_at(("traceOffset",), 10**7)),
        "traceOffset",
    ),
    "common_data_number": (
        "checkpoint.json",
        lambda d: edit_checkpoint(d, set_at(("commonData",), 5)),
        "commonData",
    ),
    "checkpoint_huge_number": (
        "checkpoint.json",
        lambda d: (d / ".simba" / "checkpoint.json").write_text(
            (d / ".simba" / "checkpoint.json")
            .read_text()
            .replace('"callsDone": 5', '"callsDone": 1e999')
        ),
        "callsDone",
    ),
    "checkpoint_not_json": (
        "checkpoint.json",
        lambda d: (d / ".simba" / "checkpoint.json").write_text("{"),
        "not valid JSON",
    ),
    "checkpoint_a_list": (
        "checkpoint.json",
        lambda d: (d / ".simba" / "checkpoint.json").write_text("[]"),
        "top level",
    ),
    "trace_line_garbage": (
        "trace.jsonl",
        lambda d: _append(d / ".simba" / "trace.jsonl", b"garbage\n"),
        "not valid JSON",
    ),
    "trace_tick_text": (
        "trace.jsonl",
        lambda d: _append(
            d / ".simba" / "trace.jsonl",
            b'{"module": "a", "mode": "step", "tick": "2", "outcome": "success"}\n',
        ),
        "tick",
    ),
    "trace_lone_surrogate": (
        "trace.jsonl",
        lambda d: _append(
            d / ".simba" / "trace.jsonl",
            b'{"module": "\\ud800", "mode": "step", "tick": 2, "outcome": "success"}\n',
        ),
        "surrogate",
    ),
    "run_info_timeout_negative": (
        "run.json",
        lambda d: _edit_json(d / ".simba" / "run.json", timeout=-5),
        "timeout",
    ),
    "run_info_scenario_number": (
        "run.json",
        lambda d: _edit_json(d / ".simba" / "run.json", scenario=5),
        "scenario",
    ),
    "run_info_not_json": (
        "run.json",
        lambda d: (d / ".simba" / "run.json").write_text("NaN"),
        "NaN",
    ),
}


def _append(path: Path, data: bytes) -> None:
    with path.open("ab") as handle:
        handle.write(data)


def _edit_json(path: Path, **fields: Any) -> None:
    path.write_text(json.dumps({**json.loads(path.read_text()), **fields}))


@pytest.mark.parametrize("case", sorted(DAMAGE))
def test_damaged_record_is_refused(
    case: str, interrupted: tuple[Path, Path], tmp_path: Path
) -> None:
    """A damaged .simba/ file makes --resume exit 2 naming it, with no traceback and no calls."""
    name, damage, expected = DAMAGE[case]
    run_dir = copy_run(interrupted, tmp_path / "run")
    damage(run_dir)
    trace_before = (run_dir / ".simba" / "trace.jsonl").read_bytes()
    result = run_cli("run", "--resume", run_dir, cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert name in result.stderr and expected in result.stderr
    assert (run_dir / ".simba" / "trace.jsonl").read_bytes() == trace_before, "calls were run"


def test_undamaged_records_resume_to_success(
    interrupted: tuple[Path, Path], tmp_path: Path
) -> None:
    """The same copy, undamaged, resumes and finishes every call of the plan exactly once."""
    run_dir = copy_run(interrupted, tmp_path / "run")
    result = run_cli("run", "--resume", run_dir, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    calls = {
        (r["module"], r["mode"], r["tick"])
        for r in read_trace(run_dir / ".simba" / "trace.jsonl")
        if r["outcome"] == "success"
    }
    plan = Plan(load_scenario(interrupted[0]))
    expected = {(c.module.name, c.mode.value, c.tick) for b in plan.batches() for c in b.calls}
    assert calls == expected


# -- fuzz (in-process): any change to the checkpoint or trace -----------------------------------

_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**12), max_value=10**12)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from(["", "start", "step", "end", "done", "a", "b", "2024-01-02T00:00:00"]),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)


def _paths(document: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every JSON path in ``document`` (the top level excluded)."""
    found = []
    if isinstance(document, dict):
        for key, value in document.items():
            found += [(*prefix, key), *_paths(value, (*prefix, key))]
    elif isinstance(document, list):
        for index, value in enumerate(document):
            found += [(*prefix, index), *_paths(value, (*prefix, index))]
    return found


@st.composite
def mutations(draw: st.DrawFn, document: dict[str, Any]) -> dict[str, Any]:
    """``document`` with one value replaced, one key removed, or one key added."""
    changed = copy.deepcopy(document)
    path = draw(st.sampled_from(_paths(changed)))
    parent = changed
    for key in path[:-1]:
        parent = parent[key]
    action = draw(st.sampled_from(["replace", "remove", "add"]))
    if action == "remove" and isinstance(parent, dict):
        del parent[path[-1]]
    elif action == "add" and isinstance(parent, dict):
        parent[draw(st.text(min_size=1, max_size=8))] = draw(_VALUES)
    else:
        parent[path[-1]] = draw(_VALUES)
    return changed


def _open(scenario: Scenario, run_dir: Path) -> Any:
    rundir = RunDirectory(run_dir, scenario.timeline, len(scenario.modules))
    try:
        return open_run(scenario, rundir, resume=True, overwrite=False, timeout=None)
    finally:
        rundir.unlock()


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_fuzz_checkpoint_changes(
    data: st.DataObject, interrupted: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Any one change to checkpoint.json is refused naming it, or opens at a batch of the plan.

    Half the changes get a matching digest (as if SIMBA had written them), so that the
    schema and the plan must refuse them; without one, every real change is refused.
    """
    scenario = load_scenario(interrupted[0])
    run_dir = copy_run(interrupted, tmp_path_factory.mktemp("fuzz") / "run")
    path = run_dir / ".simba" / "checkpoint.json"
    original = json.loads(path.read_text())
    document = data.draw(mutations(original))
    resigned = data.draw(st.booleans())
    path.write_bytes(signed(document) if resigned else json.dumps(document).encode())
    try:
        opening = _open(scenario, run_dir)
    except (CheckpointError, RunDirectoryError) as exc:
        assert "checkpoint.json" in str(exc) or "trace.jsonl" in str(exc)
        return
    unchanged = {k: v for k, v in document.items() if k != "digest"} == {
        k: v for k, v in original.items() if k != "digest"
    }
    assert resigned or unchanged or "digest" not in document, "a changed checkpoint was used"
    plan = Plan(scenario)
    batches = {(b.mode.value, b.tick) for b in plan.batches()} | {("done", plan.final_tick)}
    assert (opening.position.mode, opening.position.tick) in batches
    assert opening.state is not None
    assert set(opening.state.modules) == {m.name for m in scenario.modules}


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(tail=st.binary(max_size=200) | st.text(max_size=100).map(lambda t: t.encode()))
def test_fuzz_trace_tail(
    tail: bytes, interrupted: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Any bytes appended to trace.jsonl are refused naming it, dropped if cut off, or read."""
    scenario = load_scenario(interrupted[0])
    run_dir = copy_run(interrupted, tmp_path_factory.mktemp("fuzz") / "run")
    _append(run_dir / ".simba" / "trace.jsonl", tail)
    try:
        _open(scenario, run_dir)
    except CheckpointError as exc:
        assert "trace.jsonl" in str(exc)
        return
    assert (run_dir / ".simba" / "trace.jsonl").read_bytes().endswith(b"\n")


def test_fuzz_finds_real_process_refusals(interrupted: tuple[Path, Path], tmp_path: Path) -> None:
    """End to end: a random-looking change (a list for a module's calls) is exit 2, not success."""
    run_dir = copy_run(interrupted, tmp_path / "run")
    edit_checkpoint(run_dir, set_at(("modules", "b", "calls"), [1, 2]))
    result: subprocess.CompletedProcess[str] = run_cli("run", "--resume", run_dir, cwd=tmp_path)
    assert result.returncode == 2
    assert "checkpoint.json" in result.stderr and "modules.b.calls" in result.stderr
