"""docs/results.rst shows what simba status and simba export print, and runs as written."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest
from conftest import EXAMPLES
from test_docs_examples import DOCS, Session


def test_the_results_page_runs_as_written(tmp_path: Path) -> None:
    """The page's run, status and export sessions print what it shows; its files load."""
    pytest.importorskip("pyarrow", reason="the page exports Parquet: pip install '.[parquet]'")
    shutil.copytree(EXAMPLES / "quickstart", tmp_path / "examples" / "quickstart")
    session = Session(tmp_path)
    played = session.follow(DOCS / "results.rst")
    assert played == ["results-run", "results-status", "results-export"]
    with (tmp_path / "wide.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(row["tick"]) for row in rows] == list(range(121))
    import pyarrow.parquet as pq

    table = pq.read_table(tmp_path / "history.parquet")
    assert table.num_rows > 386 and table.column_names[-2:] == ["key", "value"]
