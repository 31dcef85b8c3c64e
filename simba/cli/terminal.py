"""The one place the CLI writes to the terminal: rich on a TTY, plain text elsewhere.

Every stream it hands out is :func:`guarded`: a stdout or stderr that breaks (the
reader of a pipe went away, as with ``| head -1``; a hung-up terminal; a full disk
under a redirect) never stops what SIMBA is doing.  What would go there is dropped,
and the first failure is noted once on the other stream, if that one still works.
"""

from __future__ import annotations

import io
import json
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TextIO, cast


class Terminal:
    """Writes to ``out`` (results) and ``err`` (errors, and progress with ``--json``)."""

    def __init__(self, out: TextIO | None = None, err: TextIO | None = None) -> None:
        self.out = guarded(sys.stdout if out is None else out, "stdout")
        self.err = guarded(sys.stderr if err is None else err, "stderr")
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
        """Write each text as a line as it comes, flushed at the end (long outputs).

        A listing stops, quietly, once nobody reads it (``simba plan BIG | head``): the
        reader that went away is no failure, and the rest would go nowhere.
        """
        set_note_format(self.err, None)
        out = cast(GuardedStream, self.out)
        for text in texts:
            out.write(text + "\n")
            if out.broken:
                return
        out.flush()

    def error(self, text: str) -> None:
        prefix = "\x1b[31merror:\x1b[0m " if _colour(self.err) else "error: "
        self.err.write(prefix + text + "\n")
        self.err.flush()

    def outcome(self, text: str, outcome: str) -> None:
        """A run's outcome line: bold, and green, red or yellow where colour is wanted."""
        if self.rich:
            from rich.text import Text

            style = {"success": "green", "failed": "red"}.get(outcome, "yellow")
            self.console.print(Text(text, style=f"bold {style}"), soft_wrap=True)
        else:
            self.line(text)

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


def _colour(stream: TextIO) -> bool:
    """Whether to colour what goes to ``stream``: a terminal, and no ``NO_COLOR`` set."""
    return _isatty(stream) and not os.environ.get("NO_COLOR")


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class GuardedStream(io.TextIOBase):
    """A text stream that drops what it cannot write instead of raising (see the module).

    ``stream`` ``None`` is a standard stream that was closed when SIMBA started.
    """

    def __init__(self, stream: TextIO | None, role: str) -> None:
        super().__init__()
        self.stream = stream
        self.role = role
        """``stdout``, ``stderr`` or the stream's name: what a note calls it."""
        self.broken = False
        self.note_format: Callable[[str], str] | None = "warning: {}".format
        """How a note about the other stream is written here; ``None``: not at all (JSON)."""

    @property
    def encoding(self) -> str:  # type: ignore[override]  # rich reads it
        return str(getattr(self.stream, "encoding", None) or "utf-8")

    def write(self, text: str) -> int:
        if not self.broken:
            try:
                if self.stream is None:
                    raise OSError("it was closed when SIMBA started")
                self.stream.write(text)
            except (OSError, ValueError) as exc:  # ValueError: the stream was closed
                self._break(exc)
        return len(text)

    def flush(self) -> None:
        if not self.broken and self.stream is not None:
            try:
                self.stream.flush()
            except (OSError, ValueError) as exc:
                self._break(exc)

    def isatty(self) -> bool:
        return not self.broken and self.stream is not None and _isatty(self.stream)

    def fileno(self) -> int:
        if self.stream is None:
            raise io.UnsupportedOperation("closed when SIMBA started")
        return self.stream.fileno()

    def writable(self) -> bool:
        return True

    def _break(self, exc: Exception) -> None:
        """Stop writing to the stream; point its descriptor at /dev/null so that the
        interpreter's own last flush finds nothing to complain about; say so once."""
        self.broken = True
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(devnull, self.fileno())
            finally:
                os.close(devnull)
        except (OSError, ValueError, AttributeError):  # UnsupportedOperation is both
            pass
        other = _standard("stdout" if self.role == "stderr" else "stderr")
        if other is not self:
            other.note(
                f"cannot write to {self.role} any more ({exc}); SIMBA goes on "
                "without it (the run's record is its summary.json)"
            )

    def note(self, text: str) -> None:
        """Say ``text`` on this stream as :attr:`note_format` has it (nothing if ``None``)."""
        line = None if self.note_format is None else self.note_format(text)
        if line is not None:
            self.write(line + "\n")
            self.flush()


_GUARDS: dict[object, GuardedStream] = {}
"""The guard of each stream, by ``id`` (the guard keeps its stream, so the ids stay unique)."""


def guarded(stream: TextIO | None, role: str = "stdout") -> TextIO:
    """``stream`` behind its :class:`GuardedStream` (one per stream, so one note per stream).

    ``role`` names a ``None`` stream (closed at start); sys.stdout and sys.stderr are
    known by themselves.
    """
    if isinstance(stream, GuardedStream):
        return cast(TextIO, stream)
    key: object = ("closed", role) if stream is None else id(stream)
    guard = _GUARDS.get(key)
    if guard is None:
        if stream is not None:
            standard = {id(sys.stdout): "stdout", id(sys.stderr): "stderr"}
            role = standard.get(id(stream), str(getattr(stream, "name", role)))
        guard = _GUARDS[key] = GuardedStream(stream, role)
    return cast(TextIO, guard)


def _standard(role: str) -> GuardedStream:
    """The guard of sys.stdout or sys.stderr as it is now."""
    return cast(GuardedStream, guarded(getattr(sys, role), role))


def set_note_format(stream: TextIO | None, note_format: Callable[[str], str] | None) -> None:
    """How ``stream`` tells of the other stream's failure (``None``: it does not, e.g. JSON)."""
    cast(GuardedStream, guarded(stream)).note_format = note_format
