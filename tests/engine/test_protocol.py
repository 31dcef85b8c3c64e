"""The module call protocol (DESIGN §5), checked on the config documents real modules received."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import MODULES, ROOT
from jsonschema import Draft202012Validator

from simba.engine import Engine, RunOptions
from simba.engine.protocol import StatusProblem, read_status
from simba.scenario import load_scenario

RECORD = str(MODULES / "record.py")

#: Ticks 0..12 of one hour each, so the tick format is two digits wide.
HOURLY = {
    "initialTime": "2024-03-01T00:00:00+01:00",
    "endTime": "PT12H",
    "scheduleIntervals": [{"tickDuration": "PT1H"}],
}
START = datetime.fromisoformat(HOURLY["initialTime"])


def time_of(tick: int) -> str:
    return (START + timedelta(hours=tick)).isoformat()


def run(scenario: Path, out: Path) -> Path:
    Engine(load_scenario(scenario), RunOptions(output_directory=out, run_id="run")).run()
    return out / "run"


def calls(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()]


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A run of three recording modules with different schedules; what each one saw."""
    tmp_path = tmp_path_factory.mktemp("protocol")
    logs = {name: tmp_path / f"{name}.jsonl" for name in ("plain", "sparse", "bounded")}
    scenario = tmp_path / "scenario.json"
    scenario.write_text(
        json.dumps(
            {
                "driver": HOURLY,
                "commonData": {"k": 1},
                "schedule": [
                    {
                        "name": "plain",
                        "priority": 3,
                        "command": RECORD,
                        "env": {"RECORD_LOG": str(logs["plain"])},
                    },
                    {
                        "name": "sparse",
                        "priority": 2,
                        "command": RECORD,
                        "startTick": 1,
                        "tickIncrement": 5,
                        "moduleData": {"log": str(logs["sparse"])},
                    },
                    {
                        "name": "bounded",
                        "priority": 1,
                        "command": RECORD,
                        "tickIncrement": 3,
                        "endTick": 4,
                        "moduleData": {"log": str(logs["bounded"])},
                    },
                ],
            }
        )
    )
    run_dir = run(scenario, tmp_path / "runs")
    return {"run_dir": run_dir, **{name: calls(log) for name, log in logs.items()}}


def _ticks(records: list[dict[str, Any]]) -> list[tuple[str, int, int | None]]:
    return [
        (r["config"]["mode"], r["config"]["currentTick"], r["config"].get("targetTick"))
        for r in records
    ]


def test_calls_and_target_ticks(recorded: dict[str, Any]) -> None:
    """Each module gets start, its due steps with targetTick = min(k+m, endTick, T), and end."""
    assert _ticks(recorded["plain"]) == [
        ("start", 0, None),
        *(("step", k, k + 1) for k in range(12)),
        ("end", 12, None),
    ]
    assert _ticks(recorded["sparse"]) == [
        ("start", 0, None),
        ("step", 1, 6),
        ("step", 6, 11),
        ("step", 11, 12),
        ("end", 12, None),
    ]
    assert _ticks(recorded["bounded"]) == [
        ("start", 0, None),
        ("step", 0, 3),
        ("step", 3, 4),
        ("end", 12, None),
    ]


@pytest.mark.parametrize("name", ["plain", "sparse", "bounded"])
def test_config_fields(recorded: dict[str, Any], name: str) -> None:
    """Every config names its status file, run dir, tick format, times and last run as §5 says."""
    run_dir: Path = recorded["run_dir"]
    previous: dict[str, Any] | None = None
    for record in recorded[name]:
        config = record["config"]
        config_path = Path(record["configPath"])
        mode, tick = config["mode"], config["currentTick"]
        assert record["argv"] == [str(config_path)]
        expected_dir = {"start": f"{tick:02d}", "step": f"{tick + 1:02d}", "end": "end"}[mode]
        assert config_path.parent == run_dir / expected_dir
        status_file = Path(config["statusFile"])
        assert status_file.is_absolute()
        assert status_file.parent == config_path.parent
        assert status_file.name == config_path.name.replace("module_", "status_")
        assert config["outputDirectory"] == str(run_dir)
        assert config["tickFormat"] == "{:02d}"
        assert config["currentTime"] == time_of(tick)
        if mode == "start":
            assert "lastRunTick" not in config
            assert "lastRunTime" not in config
        else:
            assert previous is not None
            assert config["lastRunTick"] == previous["currentTick"]
            assert config["lastRunTime"] == previous["currentTime"]
        if mode == "step":
            assert config["targetTime"] == time_of(config["targetTick"])
        else:
            assert "targetTick" not in config
            assert "targetTime" not in config
        assert config["commonData"] == {"k": 1}
        assert "services" not in config
        previous = config


def test_last_run_tick_zero_is_present(recorded: dict[str, Any]) -> None:
    """The first step after a start at tick 0 carries lastRunTick 0, not a missing key."""
    first_step = recorded["plain"][1]["config"]
    assert first_step["lastRunTick"] == 0
    assert first_step["lastRunTime"] == "2024-03-01T00:00:00+01:00"


def test_module_data_only_if_any(recorded: dict[str, Any]) -> None:
    """A module without moduleData gets no moduleData key; one with it gets it every call."""
    assert all("moduleData" not in r["config"] for r in recorded["plain"])
    assert all(
        r["config"]["moduleData"] == {"log": r["config"]["moduleData"]["log"]}
        for r in recorded["sparse"]
    )


def test_configs_validate_against_schema(recorded: dict[str, Any]) -> None:
    """Every config file written in the run validates against schema/module.json."""
    schema = json.loads((ROOT / "schema" / "module.json").read_text())
    validator = Draft202012Validator(schema)
    configs = [
        path
        for path in sorted(recorded["run_dir"].glob("*/module_*.json"))
        if path.parent.name != "start"  # the symlink to 00
    ]
    assert len(configs) == (1 + 12 + 1) + (1 + 3 + 1) + (1 + 2 + 1)
    for path in configs:
        errors = list(validator.iter_errors(json.loads(path.read_text())))
        assert errors == [], f"{path}: {errors[0].message}"


def test_no_common_data_when_undeclared(
    write_scenario: Callable[..., Path], tmp_path: Path
) -> None:
    """A schedule without commonData gives configs without a commonData key."""
    log = tmp_path / "calls.jsonl"
    scenario = write_scenario(
        [{"name": "r", "priority": 1, "command": RECORD, "moduleData": {"log": str(log)}}]
    )
    run(scenario, tmp_path / "runs")
    seen = calls(log)
    assert len(seen) == 5
    assert all("commonData" not in r["config"] for r in seen)
    assert seen[0]["config"]["tickFormat"] == "{:01d}"


def test_empty_common_data_is_declared(write_scenario: Callable[..., Path], tmp_path: Path) -> None:
    """A schedule declaring commonData {} passes it on as an empty object."""
    log = tmp_path / "calls.jsonl"
    scenario = write_scenario(
        {
            "commonData": {},
            "schedule": [
                {"name": "r", "priority": 1, "command": RECORD, "moduleData": {"log": str(log)}}
            ],
        }
    )
    run(scenario, tmp_path / "runs")
    assert all(r["config"]["commonData"] == {} for r in calls(log))


# -- reading status files -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "success", "message"),
    [
        ('{"status": "success"}', True, None),
        ('{"status": "fail", "message": "no"}', False, "no"),
        ('{"status": "failure"}', False, None),
        ('\ufeff{"status": "success", "commonData": {"a": 1}}', True, None),
    ],
)
def test_read_status_accepts(tmp_path: Path, text: str, success: bool, message: str | None) -> None:
    """Valid status files parse; 'failure' reads as fail and a UTF-8 BOM is tolerated."""
    path = tmp_path / "status.json"
    path.write_text(text, encoding="utf-8")
    status = read_status(path)
    assert status.success is success
    assert status.message == message


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('{"status": "success", "status": "fail"}', "appears twice"),
        ('{"status": "success", "moduleData": {"x": NaN}}', "NaN"),
        ('{"status": "success", "moduleData": 3}', "moduleData"),
        ("{}", "status"),
        ("", "not valid JSON"),
        ("42", "a number"),
        ("true", "true or false"),
    ],
)
def test_read_status_rejects(tmp_path: Path, text: str, words: str) -> None:
    """Unusable status files raise StatusProblem with a sentence naming the file."""
    path = tmp_path / "status.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(StatusProblem) as caught:
        read_status(path)
    assert words in str(caught.value)
    assert str(path) in str(caught.value)


def test_read_status_missing(tmp_path: Path) -> None:
    """A missing status file is reported as such."""
    with pytest.raises(StatusProblem, match="wrote no status file"):
        read_status(tmp_path / "absent.json")


def test_read_status_remembers_content_not_files(tmp_path: Path) -> None:
    """Equal status files share one parse, yet each read sees its own file's content,
    and a bad status names its own file every time (errors are not remembered)."""
    first, second, changed = (tmp_path / name for name in ("a.json", "b.json", "c.json"))
    first.write_text('{"status": "success", "moduleData": {"n": 1}}')
    second.write_text('{"status": "success", "moduleData": {"n": 1}}')
    changed.write_text('{"status": "success", "moduleData": {"n": 2}}')
    assert read_status(first) is read_status(second)
    assert read_status(changed).module_data == {"n": 2}
    first.write_text('{"status": "success", "moduleData": {"n": 3}}')  # same path, new bytes
    assert read_status(first).module_data == {"n": 3}
    for path in (first, second):
        path.write_text('{"status": "maybe"}')
        with pytest.raises(StatusProblem) as caught:
            read_status(path)
        assert str(path) in str(caught.value)
