#!/usr/bin/env python3
"""A reporter as a SIMBA module: one CSV row per day, written into the run directory.

It has the lowest priority, so at every tick it runs after the epidemic model and the
policy and sees the state they have just published.  It only reads commonData.
"""

from __future__ import annotations

import csv
from pathlib import Path

from simba.module import Context, Module

COLUMNS = ("date", "S", "I", "R", "contactReduction")


def report_path(ctx: Context) -> Path:
    return ctx.output_directory / "report.csv"


class Reporter(Module):
    """Writes ``report.csv``: the header at start, a row after every step."""

    def start(self, ctx: Context) -> None:
        with report_path(ctx).open("w", newline="", encoding="utf-8") as handle:
            csv.writer(handle).writerow(COLUMNS)

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
        with report_path(ctx).open("a", newline="", encoding="utf-8") as handle:
            csv.writer(handle).writerow(row)

    def end(self, ctx: Context) -> None:
        with report_path(ctx).open(encoding="utf-8") as handle:
            rows = sum(1 for _ in handle) - 1
        ctx.info(f"wrote {rows} rows to {report_path(ctx)}")


if __name__ == "__main__":
    Reporter.main()
