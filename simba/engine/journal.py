"""``.simba/trace.jsonl``: one JSON record per finished call attempt, flushed at once."""

from __future__ import annotations

import json
from pathlib import Path

from simba.events import CallFinished, Event
from simba.jsonfile import open_regular, parse_json

_encode = json.JSONEncoder().encode  # json.dumps with its defaults, built once


class TraceWriter:
    """An observer that appends every :class:`CallFinished` to a JSON-lines file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        # Unbuffered: each record reaches the kernel at once (a crash keeps it), in one write.
        self._handle = open_regular(path, "ab", buffering=0)

    def __call__(self, event: Event) -> None:
        if isinstance(event, CallFinished):
            record = {
                "module": event.module,
                "mode": event.mode,
                "tick": event.tick,
                "targetTick": event.target_tick,
                "attempt": event.attempt,
                "outcome": event.outcome,
                "exitCode": event.exit_code,
                "wallTime": round(event.wall_time, 6),
                "startedAt": round(event.started_at, 6),
            }
            if event.reason:
                record["reason"] = event.reason
            data = memoryview(_encode(record).encode() + b"\n")
            while data:  # a raw write may take part of it (a full disk): the rest, or an error
                data = data[self._handle.write(data) or 0 :]

    @property
    def position(self) -> int:
        """Bytes written so far: where the next record starts."""
        return self._handle.tell()

    def close(self) -> None:
        self._handle.close()


def read_trace(path: Path) -> list[dict[str, object]]:
    """The records of a trace file (for reports and tests)."""
    with open_regular(path, "rb") as handle:
        return [parse_json(line) for line in handle if line.strip()]
