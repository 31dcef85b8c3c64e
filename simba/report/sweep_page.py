"""A sweep's report: its cells' parameters, outcomes and chosen outputs, charted.

The sweep's ``sweep-summary.json`` (written by ``simba sweep`` when it ends) gives each
cell's parameters, outcome, wall time and chosen final commonData values.  A sweep still
running (or killed) has no summary yet: its cells are then the run directories found in
it, each with the state its own database tells, and no parameters.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simba.errors import RunDirectoryError
from simba.jsonfile import JSONFileError, read_json
from simba.record.reader import DATABASE
from simba.report.record import read_run
from simba.report.run_page import Banner

#: The sweep's summary file (``simba.sweep.directory.SUMMARY_FILE``; the report sits beside
#: the sweep in the layers and does not import it).
SUMMARY_FILE = "sweep-summary.json"
SWEEP_META = ".sweep"


@dataclass(frozen=True, slots=True, kw_only=True)
class CellRow:
    id: str
    parameters: tuple[str, ...]
    outcome: str
    wall_time: str
    outputs: tuple[str, ...]
    error: str
    report_hint: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SweepPage:
    title: str
    banner: Banner
    facts: tuple[tuple[str, str], ...]
    parameters: tuple[str, ...]
    outputs: tuple[str, ...]
    cells: tuple[CellRow, ...]
    data: Mapping[str, Any]


def is_sweep(root: Path) -> bool:
    return (root / SWEEP_META).is_dir() or (root / SUMMARY_FILE).is_file()


def sweep_page(root: Path) -> SweepPage:
    """The report of the sweep in ``root``."""
    summary_path = root / SUMMARY_FILE
    if summary_path.is_file():
        try:
            summary = read_json(summary_path)
        except JSONFileError as exc:
            raise RunDirectoryError(f"cannot read {summary_path}: {exc}") from exc
        if isinstance(summary, dict) and isinstance(summary.get("cells"), list):
            return _from_summary(root, summary)
        raise RunDirectoryError(
            f'{summary_path} is not a sweep summary (no "cells" list); '
            "was it written by simba sweep?"
        )
    return _from_cells(root)


def _from_summary(root: Path, summary: Mapping[str, Any]) -> SweepPage:
    cells = [cell for cell in summary["cells"] if isinstance(cell, dict)]
    parameters: list[str] = []
    outputs: list[str] = [str(key) for key in summary.get("summaryKeys") or []]
    for cell in cells:
        for name in cell.get("parameters") or {}:
            if name not in parameters:
                parameters.append(name)
        for name in cell.get("commonData") or {}:
            if name not in outputs:
                outputs.append(name)
    rows, points = [], []
    for cell in cells:
        values = cell.get("parameters") or {}
        results = cell.get("commonData") or {}
        rows.append(
            CellRow(
                id=str(cell.get("id")),
                parameters=tuple(_show(values.get(p)) for p in parameters),
                outcome=str(cell.get("outcome")),
                wall_time=_seconds(cell.get("wallTime")),
                outputs=tuple(_show(results.get(o)) for o in outputs),
                error=str(cell.get("error") or ""),
                report_hint=f"simba report {root / str(cell.get('id'))}",
            )
        )
        points.append(
            {
                "id": str(cell.get("id")),
                "outcome": str(cell.get("outcome")),
                "p": [_number(values.get(p)) for p in parameters],
                "o": [_number(results.get(o)) for o in outputs],
            }
        )
    counts = summary.get("counts") or {}
    state = str(summary.get("outcome", "unknown"))
    done = ", ".join(f"{count} {name}" for name, count in counts.items())
    return SweepPage(
        title=f"SIMBA sweep {summary.get('runId', root.name)}",
        banner=Banner(state=state, headline=f"Sweep {state}: {done}", note=""),
        facts=(
            ("Sweep", str(summary.get("runId", root.name))),
            ("Sweep file", str(summary.get("sweep", "-"))),
            ("Directory", str(root)),
            ("Mode", str(summary.get("mode", "-"))),
            ("SIMBA version", str(summary.get("simba", "-"))),
            ("Cells", str(len(cells))),
        ),
        parameters=tuple(parameters),
        outputs=tuple(outputs),
        cells=tuple(rows),
        data={"kind": "sweep", "parameters": parameters, "outputs": outputs, "cells": points},
    )


def _from_cells(root: Path) -> SweepPage:
    rows = []
    for directory in sorted(p for p in root.iterdir() if (p / DATABASE).is_file()):
        record = read_run(directory)
        rows.append(
            CellRow(
                id=directory.name,
                parameters=(),
                outcome=record.state,
                wall_time="-",
                outputs=(),
                error="",
                report_hint=f"simba report {directory}",
            )
        )
    return SweepPage(
        title=f"SIMBA sweep {root.name}",
        banner=Banner(
            state="running",
            headline=f"Sweep without a summary yet: {len(rows)} cells started",
            note="the sweep is running or was stopped before it wrote sweep-summary.json; "
            "parameters and outputs appear when it ends",
        ),
        facts=(("Directory", str(root)), ("Cells", str(len(rows)))),
        parameters=(),
        outputs=(),
        cells=tuple(rows),
        data={"kind": "sweep", "parameters": [], "outputs": [], "cells": []},
    )


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _show(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _seconds(value: Any) -> str:
    return f"{value:.3f} s" if isinstance(value, (int, float)) else "-"
