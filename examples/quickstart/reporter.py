#!/usr/bin/env python3
"""A reporter as a SIMBA module: one CSV row per day, written into the run directory.

It has the lowest priority, so at every tick it runs after the epidemic model and the
policy and sees the state they have just published.  It only reads commonData.

A step may run twice: when a run is interrupted after the module wrote its row but
before SIMBA recorded the call, ``simba run --resume`` runs that call again.  So the
reporter never appends blindly: each step keeps the rows of the days before its own,
writes its row, and replaces the file in one rename.  Running a step again gives the
same file, and an interrupted run, resumed, the same report as an uninterrupted one.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from simba.module import Context, Module

COLUMNS = ("date", "S", "I", "R", "contactReduction")


def report_path(ctx: Context) -> Path:
    return ctx.output_directory / "report.csv"


def replace_text(path: Path, text: str) -> None:
    """Write ``path`` whole or not at all: a temporary file renamed over it."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, newline="", encoding="utf-8")
    temporary.replace(path)


class Reporter(Module):
    """Writes ``report.csv``: the header at start, a row after every step."""

    def start(self, ctx: Context) -> None:
        text = io.StringIO()
        csv.writer(text).writerow(COLUMNS)
        replace_text(report_path(ctx), text.getvalue())

    def step(self, ctx: Context) -> None:
        epidemic = ctx.common_data["epidemic"]
        reduction = float(ctx.common_data.get("contactReduction") or 0.0)
        row = (
            epidemic["day"],
            f"{epidemic['S']:.1f}",
            f"{epidemic['I']:.1f}",
            f"{epidemic['R']:.1f}",
            f"{reduction:g}",
        )
        path = report_path(ctx)
        with path.open(newline="", encoding="utf-8") as handle:
            header, *rows = list(csv.reader(handle))
        earlier = [r for r in rows if r[0] < epidemic["day"]]  # ISO dates: not a rerun's own row
        text = io.StringIO()
        csv.writer(text).writerows([header, *earlier, row])
        replace_text(path, text.getvalue())

    def end(self, ctx: Context) -> None:
        with report_path(ctx).open(encoding="utf-8") as handle:
            rows = sum(1 for _ in handle) - 1
        ctx.info(f"wrote {rows} rows to {report_path(ctx)}")


if __name__ == "__main__":
    Reporter.main()
