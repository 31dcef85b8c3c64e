"""The inline line protocol of a resident module (``"protocol": "inline"``, DESIGN §6, §16).

A call sends the config document as one JSON line on the module's stdin; the module
answers on stdout with one line ``STATUS: <status document as JSON>``.  No file is
written for the call.  Every other stdout line is the module's output as usual (so
``print`` and ``INFO:`` lines keep working); a silent call leaves no output file.
:class:`StatusSink` splits stdout into the answer and that output: the answer is
kept whole up to :data:`MAX_STATUS_BYTES` (a longer one fails the call, memory stays
bounded), everything else goes to the call's :class:`~simba.output.Sink`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from simba.jsonfile import MAX_BYTES
from simba.output import MAX_LINE_BYTES, Sink

#: The answer line starts with this.
STATUS = b"STATUS:"
#: An answer longer than this (the status file's limit) fails the call.
MAX_STATUS_BYTES = MAX_BYTES


def document_text(document: Mapping[str, Any]) -> str:
    """The config document as one line of compact JSON (JSON escapes every newline inside
    strings): what is sent, and what the run database records."""
    return _encode(document)


def request_line(text: str) -> bytes:
    """The line that sends a config document (:func:`document_text`)."""
    return text.encode() + b"\n"


_encode = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode


class StatusSink:
    """A resident module's stdout for one inline call: its answer, and its other output."""

    __slots__ = ("_partial", "output", "status", "too_long")

    def __init__(self, output: Sink) -> None:
        self.output = output
        self.status: bytes | None = None
        """The answer's status document (bytes after ``STATUS:``), once a full line came."""
        self.too_long = False
        """The answer grew past :data:`MAX_STATUS_BYTES` before its newline."""
        self._partial = b""

    @property
    def answered(self) -> bool:
        return self.status is not None or self.too_long

    def write(self, data: bytes) -> None:
        if self.answered:  # after the answer: output of the call (until the pipe is read)
            self.output.write(data)
            return
        data = self._partial + data
        start = 0
        while not self.answered:
            end = data.find(b"\n", start)
            if end < 0:
                break
            self._line(data[start:end], data[start : end + 1])
            start = end + 1
        rest = data[start:]
        if self.answered:
            self._partial = b""
            if rest:
                self.output.write(rest)
        elif rest.startswith(STATUS[: len(rest)]):  # (the start of) an answer
            self._partial = rest
            if len(rest) > MAX_STATUS_BYTES + len(STATUS):
                self.too_long, self._partial = True, b""
        elif len(rest) > MAX_LINE_BYTES:
            self._partial = b""
            self.output.write(rest)
        else:
            self._partial = rest

    def _line(self, line: bytes, raw: bytes) -> None:
        if line.startswith(STATUS):
            if len(line) > MAX_STATUS_BYTES + len(STATUS):
                self.too_long = True
            else:
                self.status = line[len(STATUS) :].strip()
        else:
            self.output.write(raw)

    def close(self) -> None:
        if self._partial:  # an unfinished line at the end: output, never an answer
            self.output.write(self._partial)
            self._partial = b""
        self.output.close()
