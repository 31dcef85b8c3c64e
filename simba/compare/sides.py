"""The two sides of a comparison: a run directory, a sweep directory or a baseline file.

:func:`load_side` reads any of them into :class:`~simba.compare.runs.RunData` records,
one per run, keyed by cell id (``""`` for a lone run): a sweep's cells are compared cell
by cell.  :func:`save_baseline` writes a side as a baseline file.
"""

from __future__ import annotations

from pathlib import Path

from simba.compare.baseline import dumps, read_baseline
from simba.compare.runs import RunData, read_run
from simba.errors import RunDirectoryError
from simba.record.reader import database_path

#: The directory of a sweep's own files (``simba.sweep.directory``), beside its cells.
SWEEP_META = ".sweep"


def load_side(path: Path) -> dict[str, RunData]:
    """The runs of one side, by cell id (``""`` for a run directory or a run's baseline)."""
    if path.is_file():
        with path.open("rb") as handle:
            if handle.read(16) == b"SQLite format 3\x00":  # a run's .simba/run.db itself
                return {"": read_run(path, label=str(path))}
        return read_baseline(path)
    if not path.is_dir():
        raise RunDirectoryError(
            f"{path} does not exist; give a run directory, a sweep directory or a baseline "
            "file (simba baseline save RUN_DIR DEST makes one)"
        )
    if database_path(path).is_file():
        return {"": read_run(path, label=str(path))}
    cells = sorted(p.name for p in path.iterdir() if database_path(p).is_file())
    if cells and (path / SWEEP_META).is_dir():
        return {cell: read_run(path / cell, label=f"{path}/{cell}") for cell in cells}
    raise RunDirectoryError(
        f"{path} is neither a run directory (it has no {database_path(Path())}) nor a "
        "sweep directory with cells that ran; give the directory of a run, of a sweep, or "
        "a baseline file"
    )


def save_baseline(source: Path, destination: Path) -> dict[str, RunData]:
    """Write the baseline of the run (or sweep) directory ``source`` to ``destination``."""
    if not source.is_dir():
        raise RunDirectoryError(
            f"{source} is no directory; give the run directory (or sweep directory) to save"
        )
    runs = load_side(source)
    text = dumps(runs)
    destination.parent.mkdir(parents=True, exist_ok=True)
    temporary = destination.with_name(destination.name + ".tmp")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(destination)
    return runs
