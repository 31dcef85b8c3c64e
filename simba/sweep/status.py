"""The status of a sweep: each cell's run status, counted, and whether the sweep's driver lives.

The cells are those of the sweep file the sweep was started with (``.sweep/sweep.json``
names it); if that file is gone or no longer loads, those of ``sweep-summary.json``,
else the cell directories there are.  A cell is ``done`` (its run succeeded),
``failed`` (failed, interrupted, or its driver stopped before the end), ``running``
(its driver holds its lock), or ``pending`` (not started yet, or started so recently
that it has recorded nothing).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from simba.errors import SimbaError
from simba.jsonfile import read_object_or_empty
from simba.record.liveness import check_driver
from simba.record.status import RunStatus, is_run_directory, run_status
from simba.sweep.directory import SUMMARY_FILE, SWEEP_META

CellState = Literal["done", "failed", "running", "pending"]
_CELL_STATES: dict[str, CellState] = {
    "success": "done",
    "failed": "failed",
    "interrupted": "failed",
    "stopped": "failed",
    "running": "running",
    "unknown": "running",
    "starting": "pending",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class CellStatus:
    id: str
    state: CellState
    run: RunStatus | None
    """``None``: the cell has no run directory yet."""

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "state": self.state, "run": self.run and self.run.to_json()}


@dataclass(frozen=True, slots=True, kw_only=True)
class SweepStatus:
    """What ``simba status`` says about a sweep directory."""

    directory: Path
    sweep_file: Path | None
    alive: bool | None
    """Whether a ``simba sweep`` driver holds the sweep's lock (``None``: cannot tell)."""
    cells: tuple[CellStatus, ...]

    def count(self, state: CellState) -> int:
        return sum(1 for cell in self.cells if cell.state == state)

    @property
    def state(self) -> str:
        if self.alive or self.count("running"):
            return "running"
        if self.count("done") == len(self.cells):
            return "success"
        return "failed" if self.count("failed") else "stopped"

    @property
    def finished(self) -> bool:
        return self.state != "running"

    @property
    def resume_command(self) -> str | None:
        """The command that continues this sweep: its unfinished cells."""
        if self.state == "running" or self.state == "success" or self.sweep_file is None:
            return None
        words = ["simba", "sweep", str(self.sweep_file), "--resume"]
        words += ["--run-id", self.directory.name, "-o", str(self.directory.parent)]
        return " ".join(map(shlex.quote, words))

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": "sweep",
            "directory": str(self.directory),
            "sweep": None if self.sweep_file is None else str(self.sweep_file),
            "state": self.state,
            "driverAlive": self.alive,
            "counts": {state: self.count(state) for state in _COUNTED},
            "cells": [cell.to_json() for cell in self.cells],
            "resumeCommand": self.resume_command,
        }


_COUNTED: tuple[CellState, ...] = ("done", "failed", "running", "pending")


def is_sweep_directory(directory: Path) -> bool:
    return (directory / SWEEP_META).is_dir()


def sweep_status(directory: Path) -> SweepStatus:
    """The status of the sweep in ``directory`` and of each of its cells."""
    identity = read_object_or_empty(directory / SWEEP_META / "sweep.json")
    source = Path(identity["sweep"]) if isinstance(identity.get("sweep"), str) else None
    cells = []
    for cell_id in _cell_ids(directory, source):
        place = directory / cell_id
        run = run_status(place) if is_run_directory(place) else None
        state = _CELL_STATES[run.state] if run else "pending"
        cells.append(CellStatus(id=cell_id, state=state, run=run))
    liveness = check_driver(directory / SWEEP_META / "lock")
    return SweepStatus(
        directory=directory, sweep_file=source, alive=liveness.alive, cells=tuple(cells)
    )


def _cell_ids(directory: Path, source: Path | None) -> list[str]:
    if source is not None:
        from simba.sweep.cells import load_sweep

        try:
            return [cell.id for cell in load_sweep(source).cells]
        except SimbaError:
            pass  # changed or gone since: what the directory says
    summary = read_object_or_empty(directory / SUMMARY_FILE)
    listed = summary.get("cells")
    if isinstance(listed, list):
        ids = [c["id"] for c in listed if isinstance(c, dict) and isinstance(c.get("id"), str)]
        if ids:
            return ids
    return sorted(p.name for p in directory.iterdir() if is_run_directory(p))
