"""Numbers and strings at the JSON edge, and timeouts of any length (issue 12, items 1 and 2).

A status file or scenario with ``1e400`` (infinity once parsed), ``NaN`` or a lone UTF-16
surrogate is refused where it is parsed, naming the file and the JSON path: a failed call
for a status, exit 2 for a scenario or ``--timeout``.  Long timeouts (25 days and more) are
waited for in pieces.  Real ``python -m simba`` processes, plus an in-process fuzz test of
status documents.
"""

from __future__ import annotations

import json
import math
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import MODULES
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simba.engine.protocol import StatusProblem, read_status
from simba.jsonfile import JSONFileError, dump_json, parse_json

SCRIPTED = str(MODULES / "scripted.py")
OK = str(MODULES / "ok.sh")

Cli = Callable[..., subprocess.CompletedProcess[str]]

#: Status documents SIMBA could not write again once parsed, and the JSON path to name.
HOSTILE_STATUS = {
    "huge_number": ('{"status": "success", "moduleData": {"x": [1, 1e400]}}', "moduleData.x[1]"),
    "negative_huge": ('{"status": "success", "commonData": {"y": -2e308}}', "commonData.y"),
    "lone_surrogate": ('{"status": "success", "moduleData": {"s": "a\\ud800"}}', "moduleData.s"),
    "lone_low_surrogate": ('{"status": "success", "message": "\\udfff"}', "message"),
    "surrogate_key": ('{"status": "success", "moduleData": {"\\ud800": 1}}', "moduleData"),
    "nan": ('{"status": "success", "moduleData": {"x": NaN}}', "NaN"),
}


def scripted(raw: str, **fields: Any) -> dict[str, Any]:
    """A schedule entry whose module writes ``raw`` as its status file."""
    return {"name": "m", "priority": 1, "command": SCRIPTED, "moduleData": {"raw": raw}, **fields}


# -- parsing (in-process) -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("1e400", ""),
        ('{"a": {"b": [0, -1E+999]}}', "a.b[1]"),
        ('{"a": "\\ud800"}', "a"),
        ('[{"x": ["ok", "\\uDC00"]}]', "[0].x[1]"),
    ],
)
def test_parse_json_refuses_values_it_could_not_write(text: str, where: str) -> None:
    """Out-of-range numbers and lone surrogates are refused at parse time with their JSON path."""
    with pytest.raises(JSONFileError) as caught:
        parse_json(text)
    assert caught.value.where == where
    assert (f"at {where}, " in str(caught.value)) == bool(where)


def test_parse_json_keeps_what_it_can_write() -> None:
    """A surrogate pair, an escaped backslash before 'ud800' and the largest double parse fine."""
    document = parse_json('{"e": "\\ud83d\\ude00", "b": "\\\\ud800", "big": 1.7e308, "i": 10}')
    assert document == {"e": "\U0001f600", "b": "\\ud800", "big": 1.7e308, "i": 10}
    assert parse_json(dump_json(document)) == document


# -- status files (real processes) -----------------------------------------------------------


@pytest.mark.parametrize("case", sorted(HOSTILE_STATUS))
def test_hostile_status_is_a_failed_call_and_resume_stays_clean(
    case: str, write_scenario: Callable[..., Path], simba_cli: Cli, tmp_path: Path
) -> None:
    """A status SIMBA could not write again fails its call, names the file and path; resume too."""
    raw, where = HOSTILE_STATUS[case]
    scenario = write_scenario([scripted(raw)])
    result = simba_cli("run", "--output-directory", tmp_path / "out", "--run-id", "r", scenario)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert "status_1.json" in result.stderr and where in result.stderr
    run_dir = tmp_path / "out" / "r"
    summary = json.loads((run_dir / ".simba" / "summary.json").read_text())
    assert summary["outcome"] != "success"
    again = simba_cli("run", "--resume", run_dir)
    assert again.returncode == 1, again.stderr
    assert "Traceback" not in again.stdout + again.stderr
    assert where in again.stderr


# -- scenarios and --timeout (real processes) ---------------------------------------------------


@pytest.mark.parametrize(
    ("schedule_text", "where"),
    [
        ('{"schedule": [ENTRY], "commonData": {"x": 1e400}}', "commonData.x"),
        ('{"schedule": [ENTRY], "commonData": {"x": "\\udfff"}}', "commonData.x"),
        ('{"schedule": [ENTRY], "commonData": {"x": -Infinity}}', "Infinity"),
    ],
)
def test_hostile_scenario_fails_validate_and_run(
    schedule_text: str, where: str, write_scenario: Callable[..., Path], simba_cli: Cli
) -> None:
    """Such values in a scenario make validate and run exit 2, naming file and JSON path."""
    scenario = write_scenario([])
    entry = json.dumps({"name": "m", "priority": 1, "command": OK})
    (scenario / "schedule.json").write_text(schedule_text.replace("ENTRY", entry))
    for command in ("validate", "run"):
        result = simba_cli(command, scenario)
        assert result.returncode == 2, result.stderr
        assert "Traceback" not in result.stdout + result.stderr
        assert "schedule.json" in result.stderr and where in result.stderr


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("nan", "not a number"),
        ("inf", "longer than SIMBA can wait"),
        ("1e400", "longer than SIMBA can wait"),
        ("-inf", "longer than zero"),
        ("P1000000W", "longer than SIMBA can wait"),
    ],
)
def test_timeout_option_refuses_what_cannot_be_waited_for(
    value: str, reason: str, write_scenario: Callable[..., Path], simba_cli: Cli
) -> None:
    """--timeout NaN, infinite or beyond the platform's longest wait exits 2 with the reason."""
    scenario = write_scenario([{"name": "m", "priority": 1, "command": OK}])
    result = simba_cli("run", "--timeout", value, scenario)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "--timeout" in result.stderr and reason in result.stderr


@pytest.mark.parametrize("timeout", ["1" + "0" * 400, "1e300", '"P1000000W"'])
def test_scenario_timeout_beyond_any_wait_is_refused(
    timeout: str, write_scenario: Callable[..., Path], simba_cli: Cli
) -> None:
    """A scenario timeout longer than the platform can wait for is exit 2 from validate."""
    scenario = write_scenario([])
    entry = f'{{"name": "m", "priority": 1, "command": "{OK}", "timeout": {timeout}}}'
    (scenario / "schedule.json").write_text(f'{{"schedule": [{entry}]}}')
    result = simba_cli("validate", scenario)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "schedule[0].timeout" in result.stderr and "longer than SIMBA can wait" in result.stderr


@pytest.mark.parametrize("module_type", ["local", "resident"])
def test_timeouts_of_thirty_days_and_more_work(
    module_type: str, write_scenario: Callable[..., Path], simba_cli: Cli, tmp_path: Path
) -> None:
    """Timeouts of 30 days to 95 years (past poll's 2**31 ms) run a scenario to success."""
    command = OK if module_type == "local" else str(MODULES / "res_counter.sh")
    first = {"name": "a", "priority": 2, "command": command, "type": module_type}
    first |= {"timeout": "P30D", "env": {"RES_LOG": str(tmp_path / "res.log")}}
    scenario = write_scenario([first, {"name": "b", "priority": 1, "command": OK, "timeout": 3e9}])
    assert simba_cli("validate", scenario).returncode == 0
    result = simba_cli("run", "--timeout", "P5000D", scenario)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr


def test_wait_exit_takes_long_timeouts_in_pieces() -> None:
    """wait_exit with a timeout past 2**31 ms returns when the process exits, not OverflowError."""
    from simba.process import ModuleProcess

    process = ModuleProcess(["sh", "-c", "exit 0"], env=None, cwd=Path.cwd())
    try:
        assert process.wait_exit(30 * 86400.0)
    finally:
        process.reap()


# -- fuzz: status documents (in-process) ---------------------------------------------------------

_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(),
)
_JSON = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
#: Literal text that JSON (or Python's reading of it) treats badly.
_HOSTILE = st.sampled_from(
    ["1e400", "-1e999", "NaN", "Infinity", '"\\ud800"', '"\\udfff x"', '"\\ud83d\\ude00"', "1" * 30]
)


@st.composite
def status_texts(draw: st.DrawFn) -> str:
    """A status document, often valid, with a hostile literal put in at a random place."""
    document: dict[str, Any] = {"status": draw(st.sampled_from(["success", "fail", "x"]))}
    for key in draw(st.sets(st.sampled_from(["commonData", "moduleData", "message"]))):
        document[key] = draw(_JSON)
    text = json.dumps(document, ensure_ascii=draw(st.booleans()))
    if draw(st.booleans()):
        marker = draw(st.sampled_from(["0", "null", "true", '""']))
        hostile = draw(_HOSTILE)
        text = (
            text.replace(marker, hostile, 1)
            if marker in text
            else text[:-1] + f', "h": {hostile}}}'
        )
    return text


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=status_texts())
def test_fuzz_status_documents(text: str, tmp_path: Path) -> None:
    """Any status text reads as a status SIMBA can write again, or as a StatusProblem naming it."""
    path = tmp_path / "status_1.json"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    try:
        status = read_status(path)
    except StatusProblem as exc:
        assert str(path) in str(exc) or "status file" in str(exc)
        return
    for part in (status.common_data, status.module_data, status.message):
        dump_json(part)  # raises if a value could not be written into a config or checkpoint
        if isinstance(part, float):
            assert math.isfinite(part)
