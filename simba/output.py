"""A module's output: cut into lines, its ``INFO:`` / ``ERROR:`` lines picked out, saved.

One rule for every runner and for hosted services: :class:`LineSplitter` cuts a byte
stream into lines as it arrives (a line may come in any number of pieces; an
overlong one is passed on in pieces, so memory stays bounded), and
:func:`module_line` says whether a line is an ``INFO:`` / ``ERROR:`` line.  A call's
output goes to a :class:`Sink` (``stdout_<i>`` / ``stderr_<i>``, created on the first
byte) as it streams; :func:`read_module_lines` reads the lines of an output file
written elsewhere (a Parsl worker).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from simba.events import Level
from simba.jsonfile import open_regular

#: At most this many INFO:/ERROR: lines are reported per call.
MAX_LINES = 1000
#: A longer line is passed on in pieces of this size.
MAX_LINE_BYTES = 65536
#: How much is read at once.
CHUNK = 65536
#: Of a call's output a :class:`Sink` without a file keeps at most this much (its head).
MAX_KEPT_BYTES = 1 << 20


class LineSplitter:
    """Cuts one stream into lines as bytes arrive; a line may come in any number of pieces.

    Each complete line (without its newline) goes to ``on_line``; a line longer than
    :data:`MAX_LINE_BYTES` with no newline in sight goes in pieces of that size, so
    memory stays bounded whatever a module prints.
    """

    __slots__ = ("_partial", "on_line")

    def __init__(self, on_line: Callable[[bytes], None]) -> None:
        self.on_line = on_line
        self._partial = b""

    def feed(self, data: bytes) -> None:
        *complete, self._partial = (self._partial + data).split(b"\n")
        for line in complete:
            self.on_line(line)
        while len(self._partial) > MAX_LINE_BYTES:
            self.on_line(self._partial[:MAX_LINE_BYTES])
            self._partial = self._partial[MAX_LINE_BYTES:]

    def finish(self) -> None:
        """Pass on the last line if it had no newline."""
        if self._partial:
            line, self._partial = self._partial, b""
            self.on_line(line)


def module_line(line: bytes) -> tuple[Level, str] | None:
    """``(level, text)`` if ``line`` is an ``INFO:`` or ``ERROR:`` line, else ``None``."""
    if line.startswith(b"INFO:"):
        return "INFO", line[5:].decode("utf-8", "replace").strip()
    if line.startswith(b"ERROR:"):
        return "ERROR", line[6:].decode("utf-8", "replace").strip()
    return None


def read_module_lines(path: Path) -> tuple[tuple[Level, str], ...]:
    """The ``INFO:`` / ``ERROR:`` lines of an output file (at most :data:`MAX_LINES`)."""
    found: list[tuple[Level, str]] = []

    def pick(line: bytes) -> None:
        picked = module_line(line)
        if picked is not None and len(found) < MAX_LINES:
            found.append(picked)

    splitter = LineSplitter(pick)
    try:
        handle = open_regular(path, "rb")
    except OSError:
        return ()
    with handle:
        while chunk := handle.read(CHUNK):
            splitter.feed(chunk)
    splitter.finish()
    return tuple(found)


class Output(Protocol):
    """Where :meth:`ModuleProcess.supervise` sends one pipe's bytes."""

    def write(self, data: bytes) -> None: ...

    def close(self) -> None:
        """The pipe has ended (may be called again later)."""


class Sink:
    """Output of one stream for one call: a file created on the first byte, or, without
    a path, its first :data:`MAX_KEPT_BYTES` kept in memory (``kept``).

    Lines starting with ``INFO:`` or ``ERROR:`` are collected in ``found``; with a
    ``done_prefix``, the text of the first line starting with it is kept in ``done``,
    and that line is not written to the file when it ends the output read so far.
    """

    __slots__ = ("_fd", "_lines", "done", "done_prefix", "found", "kept", "path")

    def __init__(self, path: Path | None, *, done_prefix: bytes | None = None) -> None:
        self.path = path
        self.kept = bytearray()
        self.done_prefix = done_prefix
        self.found: list[tuple[Level, str]] = []
        self.done: str | None = None
        self._fd: int | None = None
        self._lines = LineSplitter(self._line)

    def write(self, data: bytes) -> None:
        answered = self.done is not None
        self._lines.feed(data)
        if self.done_prefix and not answered and self.done is not None:
            # The answer is protocol, not output: a silent resident call makes no file.
            data = _without_answer(data, self.done_prefix)
            if not data:
                return
        if self.path is None:
            self.kept += data[: MAX_KEPT_BYTES - len(self.kept)]
            return
        if self._fd is None:
            flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NONBLOCK  # a FIFO: ENXIO
            try:
                self._fd = os.open(self.path, flags, 0o644)
            except FileNotFoundError:  # the module removed its call directory: make it again
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._fd = os.open(self.path, flags, 0o644)
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]

    def _line(self, line: bytes) -> None:
        picked = module_line(line)
        if picked is not None:
            if len(self.found) < MAX_LINES:
                self.found.append(picked)
        elif self.done_prefix and self.done is None and line.startswith(self.done_prefix):
            self.done = line[len(self.done_prefix) :].decode("utf-8", "replace").strip()

    def close(self) -> None:
        self._lines.finish()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _without_answer(data: bytes, prefix: bytes) -> bytes:
    """``data`` without its last line if that line starts with ``prefix`` (a resident answer)."""
    if not data.endswith(b"\n"):
        return data
    start = data.rfind(b"\n", 0, len(data) - 1) + 1
    return data[:start] if data.startswith(prefix, start) else data
