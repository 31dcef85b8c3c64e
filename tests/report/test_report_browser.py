"""The report in a real browser (Debian's headless Chromium): real runs, checked in the DOM.

Each report is opened from its file; the page must ask for nothing but that file, log no
console error, draw every module's bars on the timeline and a chart for every numeric
commonData key, and look like something (many distinct colours in a screenshot).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser import BARS_PER_MODULE, CHARTED_KEYS, Opened, chromium, distinct_colours, open_report
from conftest import EXAMPLES, MODULES, SMALL_DRIVER, launch, run_cli, run_processes

from simba.report.series import numeric_leaves


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from chromium()


def report_of(run: Path, tmp_path: Path, name: str = "report.html") -> Path:
    result = run_cli("report", run, "-o", tmp_path / name, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    return tmp_path / name


def check_page(browser: Any, opened: Opened, path: Path) -> None:
    """What every report must do: ask for nothing but itself, say no error, show something."""
    assert opened.requests == [path.resolve().as_uri()]
    assert opened.console_errors == []
    png = opened.page.screenshot(full_page=False)
    assert distinct_colours(browser, png) > 50


def check_timeline(
    opened: Opened, modules: list[str], idle: tuple[str, ...] = ()
) -> dict[str, int]:
    """Every module called has bars in its row; ``idle`` ones (services) have a row, no bar."""
    bars = opened.page.evaluate(BARS_PER_MODULE)
    assert sorted(bars) == sorted([*modules, *idle])
    assert all(bars[name] > 0 for name in modules), bars
    assert all(bars[name] == 0 for name in idle), bars
    return dict(bars)


def final_common_data(run: Path) -> dict[str, Any]:
    return json.loads((run / ".simba" / "summary.json").read_text())["commonData"]


def test_the_quickstart_report(browser: Any, tmp_path: Path) -> None:
    result = run_cli("run", EXAMPLES / "quickstart", "-o", tmp_path, "--run-id", "q", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    run = tmp_path / "q"
    path = report_of(run, tmp_path)
    opened = open_report(browser, path)
    check_page(browser, opened, path)
    bars = check_timeline(opened, ["sir", "policy", "weekly", "reporter"])
    assert bars["weekly"] < bars["sir"]  # every 7th tick against every tick
    declared = {key for key, _ in numeric_leaves(final_common_data(run), "commonData")}
    assert {"commonData.contactReduction", "commonData.epidemic.I"} <= declared
    charted = set(opened.page.evaluate(CHARTED_KEYS))
    assert declared <= charted, declared - charted
    assert "moduleData.sir.beta" in charted
    banner = opened.page.inner_text("#banner")
    assert "Success: 386 of 386 calls" in banner
    rows = opened.page.eval_on_selector_all(
        "#module-table tbody tr", "r => r.map(x => x.dataset.module)"
    )
    assert rows == ["sir", "policy", "weekly", "reporter"]
    assert opened.page.locator("#graph svg").count() == 1
    hover = "() => window.simbaReport.charts.timeline.dispatchAction("
    hover += "{type: 'showTip', seriesIndex: 0, dataIndex: 100})"
    opened.page.evaluate(hover)
    opened.page.wait_for_function(
        "() => document.getElementById('timeline').innerText.includes('simulated time:')"
    )
    tip = opened.page.inner_text("#timeline")
    assert re.search(r"simulated time: 2024-\d\d-\d\d \d\d:\d\d:\d\d", tip), tip
    assert re.search(r"wall: \d+\.\d+ s, CPU: ", tip) and "outcome: success" in tip, tip
    opened.close()


def scripted(name: str, priority: int, **fields: Any) -> dict[str, Any]:
    """A schedule entry running tests/modules/scripted.py (its moduleData says what it does)."""
    return {"name": name, "command": ["python3", str(MODULES / "scripted.py")],
            "priority": priority, **fields}  # fmt: skip


def scenario_of(directory: Path, entries: list[dict[str, Any]], driver: dict[str, Any]) -> Path:
    directory.mkdir()
    schedule = {"schedule": entries, "commonData": {"level": 0.0}}
    (directory / "driver.json").write_text(json.dumps(driver))
    (directory / "schedule.json").write_text(json.dumps(schedule))
    return directory


def failing_scenario(tmp_path: Path) -> Path:
    """Two modules; ``breaker`` writes two stderr lines and exits 3 at tick 2."""
    level = {"commonData": {"level": 2.5}}
    breaker = {"onTick": 2, "stderr": ["boom: the reactor melted", "at line 42"], "exit": 3}
    entries = [
        scripted("level", 2, updateCommonData=True, moduleData=level),
        scripted("breaker", 1, moduleData=breaker),
    ]
    return scenario_of(tmp_path / "failing", entries, SMALL_DRIVER)


def test_the_report_of_a_failed_run_shows_the_cause_and_the_log_tail(
    browser: Any, tmp_path: Path
) -> None:
    scenario = failing_scenario(tmp_path)
    result = run_cli("run", scenario, "-o", tmp_path, "--run-id", "f", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    path = report_of(tmp_path / "f", tmp_path)
    opened = open_report(browser, path)
    check_page(browser, opened, path)
    check_timeline(opened, ["level", "breaker"])
    assert "Failed" in opened.page.inner_text("#banner")
    assert "breaker" in opened.page.inner_text("#error")
    assert "boom: the reactor melted" in opened.page.inner_text("#log-tail")
    failures = opened.page.inner_text("#failures")
    assert "breaker, step at tick 2, attempt 1" in failures
    assert "exit code 3" in failures
    assert "commonData.level" in opened.page.evaluate(CHARTED_KEYS)
    opened.close()


def test_the_report_of_a_sweep_charts_outputs_against_parameters(
    browser: Any, tmp_path: Path
) -> None:
    shutil.copytree(EXAMPLES / "sweep", tmp_path / "sweep")
    result = run_cli("sweep", "sweep.json", "-j", "2", cwd=tmp_path / "sweep")
    assert result.returncode == 0, result.stderr
    sweep = tmp_path / "sweep" / "runs" / "sir-sweep"
    path = report_of(sweep, tmp_path)
    opened = open_report(browser, path)
    check_page(browser, opened, path)
    cells = opened.page.eval_on_selector_all("#cell-table tr[data-cell]", "r => r.length")
    assert cells == 8
    described = (
        "x => [x.dataset.output, x.dataset.parameter, x.querySelectorAll('svg path').length]"
    )
    charts = opened.page.eval_on_selector_all("[data-output]", f"r => r.map({described})")
    pairs = {(output, parameter) for output, parameter, _ in charts}
    assert pairs == {
        (o, p)
        for o in ("peakInfected", "attackRate")
        for p in ("commonData.beta", "moduleData.sir.vaccinated")
    }
    assert all(paths > 4 for _, _, paths in charts)
    opened.close()


def slow_scenario(tmp_path: Path) -> Path:
    """60 ticks of a module that sleeps 0.1 s per call, and another."""
    slow = {"sleep": 0.1, "commonData": {"level": 1.0}}
    entries = [
        scripted("slow", 2, updateCommonData=True, moduleData=slow),
        scripted("fast", 1),
    ]
    driver = {**SMALL_DRIVER, "endTime": "2024-03-01T00:00:00"}
    return scenario_of(tmp_path / "slow", entries, driver)


def successful_calls(run: Path) -> int:
    database = run / ".simba" / "run.db"
    if not database.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
            row = db.execute("SELECT count(*) FROM attempts WHERE outcome = 'success'").fetchone()
            return int(row[0])
    except sqlite3.Error:
        return 0


def test_a_running_run_and_then_one_killed_with_sigkill_render(
    browser: Any, tmp_path: Path
) -> None:
    scenario = slow_scenario(tmp_path)
    run = tmp_path / "k"
    process = launch("run", scenario, "-o", tmp_path, "--run-id", "k", cwd=tmp_path)
    try:
        deadline = time.monotonic() + 60
        while successful_calls(run) < 6:
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            assert time.monotonic() < deadline, "the run recorded no calls within 60 s"
            time.sleep(0.05)
        path = report_of(run, tmp_path, "running.html")
        opened = open_report(browser, path)
        check_page(browser, opened, path)
        assert "Running:" in opened.page.inner_text("#banner")
        check_timeline(opened, ["slow", "fast"])
        opened.close()
    finally:
        process.send_signal(signal.SIGKILL)
        try:
            process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
    for pid in run_processes(run, settle=5.0):  # a module call the dead driver left running
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    path = report_of(run, tmp_path, "killed.html")
    opened = open_report(browser, path)
    check_page(browser, opened, path)
    banner = opened.page.inner_text("#banner")
    assert "Interrupted:" in banner
    assert f"simba run --resume {run}" in banner
    check_timeline(opened, ["slow", "fast"])
    outcomes = opened.page.evaluate(
        "() => window.simbaReport.data.calls.o.map(o => window.simbaReport.data.outcomes[o])"
    )
    assert "running" not in outcomes  # a call the dead driver left is 'cut off', not running
    opened.close()


def test_the_report_of_a_run_with_a_service_charts_its_stats(browser: Any, tmp_path: Path) -> None:
    result = run_cli("run", EXAMPLES / "services", "-o", tmp_path, "--run-id", "s", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    path = report_of(tmp_path / "s", tmp_path)
    opened = open_report(browser, path)
    check_page(browser, opened, path)
    check_timeline(opened, ["sensor", "smoother"], idle=("kv",))
    lines = opened.page.eval_on_selector_all(
        "#service-chart svg path",
        "r => r.filter(p => (p.getAttribute('d') || '').includes('L')).length",
    )
    assert lines > 0
    assert "commonData.mean7" in opened.page.evaluate(CHARTED_KEYS)
    opened.close()


def test_a_run_resumed_after_sigkill_reports_both_drivers(browser: Any, tmp_path: Path) -> None:
    scenario = slow_scenario(tmp_path)
    run = tmp_path / "r"
    process = launch("run", scenario, "-o", tmp_path, "--run-id", "r", cwd=tmp_path)
    deadline = time.monotonic() + 60
    while successful_calls(run) < 6 and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=30)
    run_processes(run, settle=5.0)
    result = run_cli("run", "--resume", run, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    path = report_of(run, tmp_path)
    opened = open_report(browser, path)
    check_page(browser, opened, path)
    assert "Success:" in opened.page.inner_text("#banner")
    assert "2 (resumed 1 time)" in opened.page.inner_text("#summary")
    assert "driver 2" in opened.page.inner_text("#timeline")
    check_timeline(opened, ["slow", "fast"])
    opened.close()
