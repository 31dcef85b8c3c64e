"""``simba export``: the state history, long and wide, as byte-stable CSV and as Parquet.

The exact formatting is checked on a database filled by hand (nested objects, lists,
strings, booleans, nulls, floats); real runs: tests/record/test_export_runs.py.
"""

from __future__ import annotations

import io
from importlib.util import find_spec
from pathlib import Path

import pytest
from conftest import run_cli
from handmade_db import make_run

T = "2024-01-0{}T00:00:00"
STATE = [
    (0, 0, 0, "m", "start", T.format(1), {}, {"n": 0, "opts": {"mode": "fast"}}),
    (0, 0, 1, "w", "start", T.format(1), {"grid": {"load": 1.5, "on": True}}, None),
    (1, 0, 0, "m", "step", T.format(1), {"x": 1, "tag": "a,b"}, {"n": 1, "v": [1, 2]}),
    (1, 1, 0, "m", "step", T.format(2), {"x": 0.1}, {"n": 2, "gone": None}),
    (1, 2, 1, "w", "step", T.format(3), {"grid": {"load": 1e-05}}, {"k": 7}),
    (2, 3, 0, "m", "end", T.format(4), {"x": 10**20}, {"n": 3}),
]

LONG = """\
tick,time,module,mode,scope,key,value
0,2024-01-01T00:00:00,m,start,moduleData,n,0
0,2024-01-01T00:00:00,m,start,moduleData,opts.mode,fast
0,2024-01-01T00:00:00,w,start,commonData,grid.load,1.5
0,2024-01-01T00:00:00,w,start,commonData,grid.on,true
0,2024-01-01T00:00:00,m,step,commonData,x,1
0,2024-01-01T00:00:00,m,step,commonData,tag,"a,b"
0,2024-01-01T00:00:00,m,step,moduleData,n,1
0,2024-01-01T00:00:00,m,step,moduleData,v,"[1,2]"
1,2024-01-02T00:00:00,m,step,commonData,x,0.1
1,2024-01-02T00:00:00,m,step,moduleData,n,2
1,2024-01-02T00:00:00,m,step,moduleData,gone,
2,2024-01-03T00:00:00,w,step,commonData,grid.load,1e-05
2,2024-01-03T00:00:00,w,step,moduleData,k,7
3,2024-01-04T00:00:00,m,end,commonData,x,100000000000000000000
3,2024-01-04T00:00:00,m,end,moduleData,n,3
"""

WIDE = """\
tick,time,grid.load,x,m:n,w:k
0,2024-01-01T00:00:00,1.5,1,1,
1,2024-01-02T00:00:00,1.5,0.1,2,
2,2024-01-03T00:00:00,1e-05,0.1,2,7
3,2024-01-04T00:00:00,1e-05,100000000000000000000,3,7
"""

needs_pyarrow = pytest.mark.skipif(
    find_spec("pyarrow") is None, reason="pyarrow is not installed (pip install '.[parquet]')"
)


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    make_run(tmp_path / "hand", state=STATE, meta={"runId": "hand"}, drivers=[{}])
    return tmp_path / "hand"


def export(run_dir: Path, *args: str) -> str:
    result = run_cli("export", run_dir, *args, cwd=run_dir.parent)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_long_form_is_every_value_set_in_plan_order_formatted_stably(run_dir: Path) -> None:
    """Nested objects flatten to dotted paths; lists are compact JSON; null is empty."""
    assert export(run_dir) == LONG


def test_wide_form_is_one_row_per_tick_with_values_carried_forward(run_dir: Path) -> None:
    """Numeric keys only, commonData first; a module's moduleData replaced as a whole."""
    assert export(run_dir, "--wide") == WIDE


def test_keys_select_by_path_prefix_or_glob(run_dir: Path) -> None:
    """A key path selects what lies beneath it; a glob matches series names (module:key)."""
    assert export(run_dir, "--wide", "--keys", "grid", "--keys", "m:*") == (
        "tick,time,grid.load,m:n\n"
        "0,2024-01-01T00:00:00,1.5,1\n"
        "1,2024-01-02T00:00:00,1.5,2\n"
        "2,2024-01-03T00:00:00,1e-05,2\n"
        "3,2024-01-04T00:00:00,1e-05,3\n"
    )
    lines = export(run_dir, "--keys", "x,w:k").splitlines()
    assert [line.rsplit(",", 3)[1:] for line in lines[1:]] == [
        ["commonData", "x", "1"],
        ["commonData", "x", "0.1"],
        ["moduleData", "k", "7"],
        ["commonData", "x", "100000000000000000000"],
    ]


def test_keys_that_select_nothing_are_refused_naming_the_keys(run_dir: Path) -> None:
    """A typo in --keys is a usage error (exit 2) that lists the keys there are."""
    result = run_cli("export", run_dir, "--keys", "grid.lod", cwd=run_dir.parent)
    assert result.returncode == 2
    assert "--keys 'grid.lod' selects no key of this run" in result.stderr
    assert "grid.load" in result.stderr and "m:n" in result.stderr


def test_output_file_is_written_whole(run_dir: Path) -> None:
    """-o FILE gets the same bytes as stdout, and no partial file stays behind."""
    target = run_dir.parent / "history.csv"
    assert export(run_dir, "-o", str(target)) == ""
    assert target.read_text() == LONG
    assert sorted(p.name for p in run_dir.parent.iterdir()) == ["hand", "history.csv"]


def test_what_has_no_history_is_refused(tmp_path: Path) -> None:
    """No run.db (an older run), a sweep, or no run at all: exit 2 with what to do."""
    (tmp_path / "old" / ".simba").mkdir(parents=True)
    (tmp_path / "sweep" / ".sweep").mkdir(parents=True)
    (tmp_path / "plain").mkdir()
    for name, words in [
        ("old", "has no run database"),
        ("sweep", "is a sweep; export one of its cells"),
        ("plain", "is not a SIMBA run or sweep directory"),
    ]:
        result = run_cli("export", tmp_path / name, cwd=tmp_path)
        assert result.returncode == 2 and words in result.stderr, result.stderr
        assert "Traceback" not in result.stderr


@needs_pyarrow
def test_parquet_holds_the_same_table_typed(run_dir: Path) -> None:
    """Long Parquet: the CSV's columns, tick as int64; wide: int64 where all are integers."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    target = run_dir.parent / "long.parquet"
    export(run_dir, "--format", "parquet", "-o", str(target))
    table = pq.read_table(target)
    assert table.column_names == ["tick", "time", "module", "mode", "scope", "key", "value"]
    assert str(table.schema.field("tick").type) == "int64"
    expected = pacsv.read_csv(
        io.BytesIO(LONG.encode()),
        convert_options=pacsv.ConvertOptions(
            column_types={n: "string" for n in table.column_names[1:]},
            strings_can_be_null=False,
        ),
    )
    assert table.to_pylist() == expected.to_pylist()
    wide = run_dir.parent / "wide.parquet"
    export(run_dir, "--wide", "--format", "parquet", "-o", str(wide))
    table = pq.read_table(wide)
    assert table.column_names == ["tick", "time", "grid.load", "x", "m:n", "w:k"]
    types = [str(field.type) for field in table.schema]
    assert types == ["int64", "string", "double", "double", "int64", "int64"]
    assert table.column("w:k").to_pylist() == [None, None, 7, 7]
    assert table.column("x").to_pylist() == [1.0, 0.1, 0.1, 1e20]
