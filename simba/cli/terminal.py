"""The one place the CLI writes to the terminal: rich on a TTY, plain text elsewhere."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any, TextIO


class Terminal:
    """Writes to ``out`` (results) and ``err`` (errors, and progress with ``--json``)."""

    def __init__(self, out: TextIO | None = None, err: TextIO | None = None) -> None:
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.rich = _isatty(self.out)
        self._console: Any = None

    @property
    def console(self) -> Any:
        """A rich Console on ``out`` (created on first use: rich is slow to import)."""
        if self._console is None:
            from rich.console import Console

            self._console = Console(file=self.out, highlight=False)
        return self._console

    def line(self, text: str = "") -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def lines(self, texts: Iterable[str]) -> None:
        """Write each text as a line as it comes, flushed at the end (long outputs)."""
        write = self.out.write
        for text in texts:
            write(text + "\n")
        self.out.flush()

    def error(self, text: str) -> None:
        prefix = "\x1b[31merror:\x1b[0m " if _isatty(self.err) else "error: "
        self.err.write(prefix + text + "\n")
        self.err.flush()

    def json(self, document: Any) -> None:
        self.line(json.dumps(document, indent=2, ensure_ascii=False))

    def table(self, title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        cells = [[_cell(value) for value in row] for row in rows]
        if self.rich:
            from rich.table import Table

            table = Table(title=title, title_justify="left")
            for column in columns:
                table.add_column(column, overflow="fold")
            for row in cells:
                table.add_row(*row)
            self.console.print(table)
            return
        widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
        self.line(title)
        self.line("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
        for row in cells:
            self.line("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
