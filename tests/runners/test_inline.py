"""The inline line protocol of resident modules, with real processes (sh, awk, the SDK)."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import MODULES

Cli = Callable[..., subprocess.CompletedProcess[str]]

COUNTER = str(MODULES / "inl_counter.sh")


def inline(command: str | list[str], **fields: Any) -> dict[str, Any]:
    """A resident inline-protocol module 'm' that may update commonData 'calls'."""
    return {
        "name": "m",
        "priority": 1,
        "type": "resident",
        "protocol": "inline",
        "command": command,
        "updateCommonData": True,
        **fields,
    }


def scenario(write_scenario: Callable[..., Path], *entries: dict[str, Any]) -> Path:
    return write_scenario({"commonData": {"calls": 0, "total": 0}, "schedule": list(entries)})


def summary_of(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / ".simba" / "summary.json").read_text())


def call_files(run_dir: Path) -> list[str]:
    """The config and status files of the run's calls."""
    names = ("module_", "status_")
    return sorted(p.name for p in run_dir.rglob("*") if p.name.startswith(names))


def test_a_sh_module_speaks_it_and_no_call_writes_a_file(
    write_scenario: Callable[..., Path], simba_cli: Cli, tmp_path: Path
) -> None:
    """Config documents in, STATUS: lines out: the statuses count, no config or status file."""
    result = simba_cli(
        "run", scenario(write_scenario, inline(COUNTER)), "-o", "runs", "--run-id", "r"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    run_dir = tmp_path / "runs" / "r"
    summary = summary_of(run_dir)
    assert summary["outcome"] == "success"
    assert summary["commonData"]["calls"] == 5  # one process served all five calls
    assert "call 3 is step at tick 1" in result.stdout + result.stderr  # its INFO: lines
    assert call_files(run_dir) == []
    assert "STATUS:" not in (run_dir / "2" / "stdout_1").read_text()  # protocol, not output
    assert "call 3 is step at tick 1" in (run_dir / "2" / "stdout_1").read_text()


def test_an_awk_module_speaks_it(
    write_scenario: Callable[..., Path], simba_cli: Cli, tmp_path: Path
) -> None:
    """The example of docs/protocol.rst: an awk one-liner is a complete inline module."""
    entry = inline(str(MODULES / "inl_awk.sh"), updateCommonData=False)
    result = simba_cli("run", scenario(write_scenario, entry), "-o", "runs", "--run-id", "r")
    assert result.returncode == 0, result.stdout + result.stderr
    assert summary_of(tmp_path / "runs" / "r")["modules"]["m"]["calls"] == 5


def test_the_sdk_speaks_it_with_the_same_results_as_the_file_protocol(
    write_scenario: Callable[..., Path], simba_cli: Cli, tmp_path: Path
) -> None:
    """An unchanged SDK module gives the same final state inline as with files."""
    states = {}
    for protocol in ("file", "inline"):
        log = tmp_path / f"{protocol}.log"
        entry = inline(str(MODULES / "res_sdk.py"), protocol=protocol, env={"RES_LOG": str(log)})
        result = simba_cli(
            "run", scenario(write_scenario, entry), "-o", "runs", "--run-id", protocol
        )
        assert result.returncode == 0, result.stdout + result.stderr
        summary = summary_of(tmp_path / "runs" / protocol)
        states[protocol] = (summary["commonData"], summary["modules"]["m"]["calls"])
        assert len({line.split()[0] for line in log.read_text().splitlines()}) == 1  # one process
    assert states["inline"] == states["file"] == ({"calls": 0, "total": 3}, 5)
    assert call_files(tmp_path / "runs" / "inline") == []
    assert call_files(tmp_path / "runs" / "file") != []


@pytest.mark.parametrize(
    ("what", "said"),
    [
        ("garbage", "module 'm' (step at tick 1): its status line is unusable"),
        ("invalid", "module 'm' (step at tick 1): its status line is invalid"),
        ("fail", "module 'm' (step at tick 1) reported status 'fail': told to fail"),
        ("hang", "module 'm' (step at tick 1) ran longer than its timeout of 2 s"),
        ("die", "(resident) exited with signal 9 before answering with a 'STATUS: ' line"),
        ("exit", "(resident) exited with code 0 before answering with a 'STATUS: ' line"),
    ],
)
@pytest.mark.parametrize("layout", ["tick", "journal"])
def test_a_module_that_breaks_it_fails_the_call_with_a_clear_reason(
    write_scenario: Callable[..., Path], simba_cli: Cli, what: str, said: str, layout: str
) -> None:
    """Garbage, an invalid or failed status, silence, death and exit mid-call: failed calls.
    In a journal run the call's output is kept in memory; a failed call's is written out
    too, so the error quotes its tail and names its file, and its row has it."""
    entry = inline([COUNTER, what, "1"], timeout=2 if what == "hang" else 60)
    path = scenario(write_scenario, entry)
    result = simba_cli("run", path, "-o", "runs", "--run-id", "r", "--layout", layout)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert said in output
    assert f"inl_counter: doing '{what}' at tick 1" in output  # the tail of its stderr
    assert "Traceback" not in output
    log = re.search(r"\(full log: (\S+)\)", output)
    assert log is not None and f"doing '{what}'" in Path(log.group(1)).read_text()
    if layout == "journal":
        assert log.group(1).endswith("modules/m/call/stderr_1")
        shown = simba_cli("show", Path(path).parent / "runs" / "r", "--module", "m", "--tick", "1")
        assert f"inl_counter: doing '{what}' at tick 1" in shown.stdout, shown.stdout


def test_a_status_line_over_the_limit_fails_the_call(
    write_scenario: Callable[..., Path], simba_cli: Cli
) -> None:
    """An answer longer than a status file may be fails the call; it is not kept in memory."""
    entry = inline(str(MODULES / "inl_big.py"), timeout=30)
    result = simba_cli("run", scenario(write_scenario, entry), "-o", "runs", "--run-id", "r")
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "answered with a status line over 16777216 bytes" in output


def test_a_retry_restarts_the_process_and_the_run_goes_on(
    write_scenario: Callable[..., Path], simba_cli: Cli, tmp_path: Path
) -> None:
    """A call that failed by garbage is retried in the same process and succeeds."""
    entry = inline([COUNTER, "die", "1"], retries=1)
    result = simba_cli("run", scenario(write_scenario, entry), "-o", "runs", "--run-id", "r")
    output = result.stdout + result.stderr
    assert result.returncode == 1, output  # the restarted process dies at tick 1 again
    assert "attempt 1 of 2 failed" in output


def test_only_a_resident_module_may_have_it(
    write_scenario: Callable[..., Path], simba_cli: Cli
) -> None:
    """protocol inline on a local module is a usage error naming the entry."""
    entry = inline(COUNTER, type="local")
    result = simba_cli("run", scenario(write_scenario, entry), "-o", "runs")
    assert result.returncode == 2
    assert "schedule[0].protocol" in result.stderr + result.stdout
    assert "only a module of type 'resident' speaks" in result.stderr + result.stdout


@pytest.mark.parametrize("layout", ["tick", "journal"])
def test_a_calls_cpu_is_charged_to_that_call(
    write_scenario: Callable[..., Path], simba_cli: Cli, tmp_path: Path, layout: str
) -> None:
    """A resident call's /proc figures are read after it answered (while the next call
    runs, or before the module's next request): the CPU of the step that burns 0.4 s is
    that step's, and the steps around it show next to none."""
    entry = inline(str(MODULES / "inl_burn.py") + " 1", updateCommonData=False)
    path = scenario(write_scenario, entry)
    result = simba_cli("run", path, "-o", "runs", "--run-id", "r", "--layout", layout)
    assert result.returncode == 0, result.stdout + result.stderr
    with sqlite3.connect(tmp_path / "runs" / "r" / ".simba" / "run.db") as db:
        rows = db.execute(
            "SELECT tick, user_cpu + system_cpu, max_rss_kb FROM attempts"
            " WHERE mode = 'step' ORDER BY tick"
        ).fetchall()
    cpu = {tick: used for tick, used, _ in rows}
    assert cpu[1] >= 0.3, rows
    assert all(used < 0.1 for tick, used in cpu.items() if tick != 1), rows
    assert all(peak and peak > 1000 for _, _, peak in rows), rows
