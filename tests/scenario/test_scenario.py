"""Loading scenarios (DESIGN §2): both forms, path resolution, defaults, frozen objects."""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
from collections.abc import Callable
from datetime import datetime, timedelta
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import pytest
from conftest import EXAMPLE_SOURCES, MODULES, SMALL_DRIVER, copy_example

from simba import schemas
from simba.errors import ScenarioError
from simba.scenario import ModuleType, Scenario, load_scenario

OK = str(MODULES / "ok.sh")


def module(name: str = "alpha", priority: Any = 1, **fields: Any) -> dict[str, Any]:
    return {"name": name, "command": OK, "priority": priority, **fields}


def essentials(loaded: Scenario) -> tuple[Any, ...]:
    """What a run depends on, without the file names, fingerprint and default module cwd."""
    modules = tuple(dataclasses.replace(m, working_directory=Path()) for m in loaded.modules)
    return (loaded.driver, modules, loaded.common_data, loaded.timeline.final_tick)


# -- the two forms ---------------------------------------------------------------------------


def test_directory_form(write_scenario: Callable[..., Path]) -> None:
    """A directory with driver.json and schedule.json loads, naming both files."""
    directory = write_scenario([module("alpha", 2), module("beta", 1)])
    loaded = load_scenario(directory)
    assert [m.name for m in loaded.modules] == ["alpha", "beta"]
    assert [m.index for m in loaded.modules] == [1, 2]
    assert loaded.driver_file == directory / "driver.json"
    assert loaded.schedule_file == directory / "schedule.json"
    assert loaded.timeline.final_tick == 3


def test_schedule_json_path_form(write_scenario: Callable[..., Path]) -> None:
    """Giving the directory's schedule.json loads the same scenario as giving the directory."""
    directory = write_scenario([module("alpha", 2), module("beta", 1)])
    by_file = load_scenario(directory / "schedule.json", cwd=directory)
    by_directory = load_scenario(directory, cwd=directory)
    assert essentials(by_file) == essentials(by_directory)
    assert by_file.driver_file == directory / "driver.json"


def test_single_file_form(write_scenario: Callable[..., Path], tmp_path: Path) -> None:
    """One file with "driver" beside "schedule" loads like the two-file layout."""
    directory = write_scenario({"schedule": [module()], "commonData": {"x": 1}})
    single = tmp_path / "one" / "scenario.json"
    single.parent.mkdir()
    single.write_text(
        json.dumps({"driver": SMALL_DRIVER, "schedule": [module()], "commonData": {"x": 1}})
    )
    loaded = load_scenario(single, cwd=tmp_path)
    assert essentials(loaded) == essentials(load_scenario(directory, cwd=tmp_path))
    assert loaded.driver_file == loaded.schedule_file == single
    assert loaded.common_data == {"x": 1}


def test_single_file_problems_carry_the_driver_prefix(tmp_path: Path) -> None:
    """In the one-file form a driver problem's JSON path starts with "driver."."""
    single = tmp_path / "scenario.json"
    driver = {**SMALL_DRIVER, "initialTick": "zero"}
    single.write_text(json.dumps({"driver": driver, "schedule": [module()]}))
    with pytest.raises(ScenarioError) as info:
        load_scenario(single)
    assert [(p.file, p.path) for p in info.value.problems] == [(str(single), "driver.initialTick")]


def test_schema_keys_are_ignored(write_scenario: Callable[..., Path], tmp_path: Path) -> None:
    """$schema keys anywhere (driver, schedule, module, interval) change nothing."""
    url = "https://example.invalid/schema.json"
    driver = {
        **SMALL_DRIVER,
        "$schema": url,
        "scheduleIntervals": [{"$schema": url, "tickDuration": "P1D"}],
    }
    annotated = write_scenario(
        {"$schema": url, "schedule": [module(**{"$schema": url})]}, driver=driver
    )
    plain = write_scenario([module()])
    assert essentials(load_scenario(annotated, cwd=tmp_path)) == essentials(
        load_scenario(plain, cwd=tmp_path)
    )
    single = tmp_path / "single.json"
    single.write_text(json.dumps({"$schema": url, "driver": driver, "schedule": [module()]}))
    assert essentials(load_scenario(single, cwd=tmp_path)) == essentials(
        load_scenario(plain, cwd=tmp_path)
    )


# -- the reference scenarios -----------------------------------------------------------------


@pytest.mark.parametrize("kind", ["local", "slurm"])
@pytest.mark.parametrize("examples", EXAMPLE_SOURCES)
def test_reference_scenarios_parse(kind: str, examples: Path, tmp_path: Path) -> None:
    """The reference-format examples pass the schema and load, type parsl too (with Parsl)."""
    source = examples / kind
    for name in ("driver", "schedule"):
        document = json.loads((source / f"{name}.json").read_text(encoding="utf-8"))
        assert schemas.validate(name, document, file=f"{name}.json") == []
    copy = copy_example(examples, kind, tmp_path)  # with the ../bin/application.sh it runs
    if find_spec("parsl") is None:  # then type parsl is refused with the install command
        with pytest.raises(ScenarioError) as info:
            load_scenario(copy)
        problems = info.value.problems
        assert [p.path for p in problems] == ["schedule[0].type", "schedule[1].type"]
        assert all("simba-cosim[parsl]" in p.message for p in problems)
    else:
        modules = load_scenario(copy).modules
        assert [m.type for m in modules] == [ModuleType.PARSL, ModuleType.PARSL]
        assert modules[0].parsl is not None and modules[0].parsl == modules[1].parsl
    # Without "type" the same files load: every other field is accepted.
    schedule = json.loads((copy / "schedule.json").read_text(encoding="utf-8"))
    for entry in schedule["schedule"]:
        del entry["type"]
    (copy / "schedule.json").write_text(json.dumps(schedule))
    loaded = load_scenario(copy)
    assert loaded.timeline.final_tick == 11
    entries = json.loads((source / "schedule.json").read_text(encoding="utf-8"))
    assert [(m.name, m.priority, m.tick_increment) for m in loaded.modules] == [
        (entry["name"], float(entry["priority"]), entry["tickIncrement"])
        for entry in entries["schedule"]
    ]
    assert loaded.common_data == entries["commonData"]


# -- paths -----------------------------------------------------------------------------------


def scenario_with_program(write_scenario: Callable[..., Path], **fields: Any) -> Path:
    directory = write_scenario([], name="scenario")
    (directory / "bin").mkdir()
    shutil.copy(MODULES / "ok.sh", directory / "bin" / "mod.sh")
    (directory / "data").mkdir()
    (directory / "schedule.json").write_text(
        json.dumps({"schedule": [{"name": "m", "priority": 1, **fields}]})
    )
    return directory


@pytest.mark.parametrize(
    ("command", "argv_tail"),
    [
        ("bin/mod.sh", ()),
        ("./bin/mod.sh --flag 'two words'", ("--flag", "two words")),
        (["bin/mod.sh", "x"], ("x",)),
        ("../scenario/bin/mod.sh", ()),
    ],
)
def test_relative_command_resolves_against_scenario_directory(
    write_scenario: Callable[..., Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    command: str | list[str],
    argv_tail: tuple[str, ...],
) -> None:
    """A relative program path is found from the scenario file's directory, not the cwd."""
    directory = scenario_with_program(write_scenario, command=command)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    loaded = load_scenario(directory)
    program, *rest = loaded.modules[0].argv
    assert Path(program).is_absolute()
    assert Path(program).resolve() == (directory / "bin" / "mod.sh").resolve()
    assert tuple(rest) == argv_tail


def test_single_file_command_resolves_against_its_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In the one-file form, relative commands resolve against that file's directory."""
    directory = tmp_path / "deep" / "scenario"
    (directory / "bin").mkdir(parents=True)
    shutil.copy(MODULES / "ok.sh", directory / "bin" / "mod.sh")
    (directory / "run.json").write_text(
        json.dumps(
            {
                "driver": SMALL_DRIVER,
                "schedule": [{"name": "m", "priority": 1, "command": "bin/mod.sh"}],
            }
        )
    )
    monkeypatch.chdir(tmp_path)
    loaded = load_scenario(Path("deep/scenario/run.json"))
    assert Path(loaded.modules[0].argv[0]).resolve() == (directory / "bin" / "mod.sh").resolve()


def test_program_on_path_is_found(write_scenario: Callable[..., Path]) -> None:
    """A bare program name is looked up on PATH and stored as an absolute path."""
    loaded = load_scenario(write_scenario([{"name": "m", "priority": 1, "command": "sh -c true"}]))
    program, *rest = loaded.modules[0].argv
    assert Path(program).is_absolute() and Path(program).name == "sh"
    assert rest == ["-c", "true"]


def test_shell_syntax_runs_through_sh(write_scenario: Callable[..., Path]) -> None:
    """A command with shell syntax becomes /bin/sh -c with the config path passed as "$@"."""
    loaded = load_scenario(write_scenario([module(command="echo hi | cat > /dev/null")]))
    assert loaded.modules[0].argv[:2] == ("/bin/sh", "-c")
    assert '"$@"' in loaded.modules[0].argv[2]


def test_working_directory_resolves_against_scenario_directory(
    write_scenario: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A relative workingDirectory is taken from the scenario file's directory."""
    directory = scenario_with_program(write_scenario, command="bin/mod.sh", workingDirectory="data")
    monkeypatch.chdir(tmp_path)
    loaded = load_scenario(directory)
    assert loaded.modules[0].working_directory == (directory / "data").resolve()


def test_output_directory_resolves_against_working_directory(
    write_scenario: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A relative outputDirectory is taken from the working directory (reference behaviour)."""
    directory = write_scenario([module()], driver={**SMALL_DRIVER, "outputDirectory": "out/runs"})
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    assert load_scenario(directory, cwd=cwd).driver.output_directory == cwd / "out" / "runs"
    monkeypatch.chdir(cwd)
    assert (
        load_scenario(directory).driver.output_directory.resolve()
        == (cwd / "out" / "runs").resolve()
    )


def test_absolute_output_directory_is_kept(
    write_scenario: Callable[..., Path], tmp_path: Path
) -> None:
    """An absolute outputDirectory is used as written."""
    target = tmp_path / "absolute"
    directory = write_scenario([module()], driver={**SMALL_DRIVER, "outputDirectory": str(target)})
    assert load_scenario(directory, cwd=tmp_path / "x").driver.output_directory == target


# -- time settings ---------------------------------------------------------------------------


def test_end_time_as_duration(write_scenario: Callable[..., Path]) -> None:
    """endTime P30D means 30 days after initialTime: daily ticks end at tick 30."""
    driver = {**SMALL_DRIVER, "endTime": "P30D"}
    loaded = load_scenario(write_scenario([module()], driver=driver))
    assert loaded.driver.end_time == datetime(2024, 1, 31)
    assert loaded.timeline.final_tick == 30


def test_end_time_as_calendar_duration(write_scenario: Callable[..., Path]) -> None:
    """endTime P1M counts a calendar month: from Jan 31 2024 it is Feb 29."""
    driver = {
        "initialTime": "2024-01-31T00:00:00+02:00",
        "endTime": "P1M",
        "scheduleIntervals": [{"tickDuration": "P1D"}],
    }
    loaded = load_scenario(write_scenario([module()], driver=driver))
    assert loaded.driver.end_time.isoformat() == "2024-02-29T00:00:00+02:00"
    assert loaded.timeline.final_tick == 29


def test_end_time_zero_duration_gives_final_tick_initial(
    write_scenario: Callable[..., Path],
) -> None:
    """endTime PT0S is initialTime itself: the final tick is initialTick."""
    driver = {**SMALL_DRIVER, "endTime": "PT0S", "initialTick": 4}
    loaded = load_scenario(write_scenario([module()], driver=driver))
    assert loaded.timeline.final_tick == 4


def test_times_keep_their_zone(write_scenario: Callable[..., Path]) -> None:
    """A +02:00 initialTime loads as +02:00; a naive one stays naive."""
    aware = {**SMALL_DRIVER, "initialTime": "2024-01-01T00:00:00+02:00", "endTime": "P3D"}
    loaded = load_scenario(write_scenario([module()], driver=aware))
    assert loaded.driver.initial_time.utcoffset() == timedelta(hours=2)
    assert loaded.timeline.time(1).isoformat() == "2024-01-02T00:00:00+02:00"
    naive = load_scenario(write_scenario([module()]))
    assert naive.driver.initial_time.tzinfo is None


# -- defaults and immutability ---------------------------------------------------------------


def test_defaults(write_scenario: Callable[..., Path], tmp_path: Path) -> None:
    """Left-out fields take their documented defaults."""
    loaded = load_scenario(write_scenario([module()]), cwd=tmp_path)
    spec = loaded.modules[0]
    assert spec.type is ModuleType.LOCAL
    assert spec.tick_increment == 1
    assert spec.retries == 0
    assert spec.update_common_data is False
    assert spec.store_front is False
    assert spec.start_tick is None and spec.end_tick is None
    assert spec.depends_on is None
    assert spec.timeout is None
    assert spec.module_data is None
    assert dict(spec.env) == {}
    assert not loaded.dependency_mode
    driver = loaded.driver
    assert driver.initial_tick == 0
    assert driver.output_directory == tmp_path / "runs"
    assert driver.run_id is None and driver.cell_id is None
    assert driver.continue_from_tick is None
    assert loaded.common_data is None


def test_fields_are_read(write_scenario: Callable[..., Path]) -> None:
    """Every module field given is carried into the ModuleSpec."""
    entry = module(
        "m",
        "-Infinity",
        startTick="-Infinity",
        endTick="Infinity",
        tickIncrement=0,
        dependsOn=[],
        updateCommonData=True,
        storeFront=True,
        moduleData={"k": [1, 2]},
        env={"A": "1"},
        timeout="PT1M30S",
        retries=3,
    )
    spec = load_scenario(write_scenario([entry])).modules[0]
    assert spec.priority == -math.inf
    assert (spec.start_tick, spec.end_tick, spec.tick_increment) == (None, None, 0)
    assert spec.depends_on == ()
    assert spec.update_common_data and spec.store_front
    assert spec.module_data == {"k": [1, 2]}
    assert dict(spec.env) == {"A": "1"}
    assert spec.timeout == 90.0
    assert spec.retries == 3


def test_loaded_objects_are_frozen(write_scenario: Callable[..., Path]) -> None:
    """Scenario, Driver, ModuleSpec, Interval and Timeline reject assignment."""
    loaded = load_scenario(write_scenario([module()]))
    targets: list[tuple[Any, str, Any]] = [
        (loaded, "modules", ()),
        (loaded.driver, "initial_tick", 5),
        (loaded.modules[0], "name", "other"),
        (loaded.driver.intervals[0], "end_tick", 3),
        (loaded.timeline, "final_tick", 99),
    ]
    for target, field, value in targets:
        with pytest.raises((dataclasses.FrozenInstanceError, AttributeError)):
            setattr(target, field, value)
    assert isinstance(loaded.modules, tuple)
    assert isinstance(loaded.driver.intervals, tuple)
    assert loaded.modules[0].name == "alpha"
    assert loaded.timeline.final_tick == 3


def test_loading_writes_nothing(write_scenario: Callable[..., Path], tmp_path: Path) -> None:
    """Loading a scenario creates no file, neither beside it nor in the working directory."""
    directory = write_scenario([module()])
    before = sorted(tmp_path.rglob("*"))
    load_scenario(directory, cwd=tmp_path)
    assert sorted(tmp_path.rglob("*")) == before


def test_fingerprint_follows_file_bytes(write_scenario: Callable[..., Path]) -> None:
    """The fingerprint is stable for the same files and changes when a file changes."""
    directory = write_scenario([module()])
    first = load_scenario(directory).fingerprint
    assert load_scenario(directory).fingerprint == first
    (directory / "schedule.json").write_text(json.dumps({"schedule": [module(priority=2)]}))
    assert load_scenario(directory).fingerprint != first
