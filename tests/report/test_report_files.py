"""``simba report`` without a browser: the file's budget, its data, and bad input."""

from __future__ import annotations

import json
import re
from pathlib import Path

from conftest import run_cli
from handmade import MODULES, handmade_run

from simba.report.page import ECHARTS, build, page_json
from simba.report.series import downsample

#: The budget of a 10,000-call run's report (issue 13).
BUDGET = 2 * 1024 * 1024


def page_data(html: str) -> dict:
    match = re.search(
        r'<script type="application/json" id="report-data">(.*?)</script>', html, re.S
    )
    assert match, "the page has no data block"
    return json.loads(match.group(1))


def test_a_10000_call_report_stays_within_2_mb_with_echarts_embedded_once(tmp_path: Path) -> None:
    run = handmade_run(tmp_path / "run", ticks=2500)  # 4 modules: 10,000 calls
    result = run_cli("report", run, "-o", tmp_path / "r.html", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"report: {tmp_path / 'r.html'}\n"
    html = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert len(html.encode("utf-8")) <= BUDGET
    assert html.count(ECHARTS.read_text(encoding="utf-8")[:2000]) == 1
    assert html.count('id="report-data"') == 1
    data = page_data(html)
    assert len(data["calls"]["m"]) == 10_000
    assert data["modules"] == list(MODULES)
    lengths = {s["key"]: (s["n"], len(s["x"])) for s in data["series"]}
    assert lengths["commonData.epidemic.I"][0] == 2500
    assert lengths["commonData.epidemic.I"][1] <= data["maxPoints"]


def test_the_default_output_is_report_html_in_the_run_directory(tmp_path: Path) -> None:
    run = handmade_run(tmp_path / "run", ticks=5)
    result = run_cli("report", run, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (run / "report.html").is_file()


def test_downsampling_keeps_every_bucket_s_extremes_in_order() -> None:
    values = [float((i * 7919) % 1000) for i in range(10_000)]
    values[4321] = 5000.0
    values[8765] = -5000.0
    kept = downsample(values, limit=2000)
    assert len(kept) <= 2002
    assert kept == sorted(kept)
    assert {0, 4321, 8765, 9999} <= set(kept)
    assert downsample(values[:100], limit=2000) == list(range(100))


def test_text_from_the_run_cannot_close_the_data_script(tmp_path: Path) -> None:
    text = page_json({"key": "</script><script>alert(1)</script><!--"})
    assert "</" not in text and "<!--" not in text
    assert json.loads(text) == {"key": "</script><script>alert(1)</script><!--"}


def test_a_run_s_text_is_escaped_in_the_page(tmp_path: Path) -> None:
    import sqlite3

    run = handmade_run(tmp_path / "run", ticks=3)
    with sqlite3.connect(run / ".simba" / "run.db") as db:
        db.execute("UPDATE meta SET value = ? WHERE key = 'runId'", (json.dumps("<b>x</b>"),))
    html = build(run)
    assert "<b>x</b>" not in html and "&lt;b&gt;x&lt;/b&gt;" in html


def test_a_directory_without_a_database_is_refused_with_exit_2(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = run_cli("report", tmp_path / "empty", cwd=tmp_path)
    assert result.returncode == 2
    assert "does not exist: this is no SIMBA run directory" in result.stderr
    assert "Traceback" not in result.stderr
    missing = run_cli("report", tmp_path / "nowhere", cwd=tmp_path)
    assert missing.returncode == 2
    assert "is not a directory" in missing.stderr


def test_an_unwritable_output_is_refused_with_exit_2(tmp_path: Path) -> None:
    run = handmade_run(tmp_path / "run", ticks=3)
    result = run_cli("report", run, "-o", tmp_path / "no" / "such" / "r.html", cwd=tmp_path)
    assert result.returncode == 2
    assert "cannot write the report" in result.stderr
    assert "Traceback" not in result.stderr
