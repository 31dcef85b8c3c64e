"""A hosted service's ``module.log``: timestamped lines of both streams, rotated.

Each line the service prints (on either stream) is one record,
``<UTC time> <stream> <text>``; the file is rotated when it would grow past
:data:`LOG_MAX_BYTES`, keeping one old file (``module.log.1``).  The last
:data:`TAIL_LINES` lines are kept in memory for failure messages.
"""

from __future__ import annotations

import threading
from collections import deque
from datetime import datetime, timezone
from pathlib import Path
from typing import IO

from simba.jsonfile import open_regular

#: ``module.log`` is rotated when it would grow past this many bytes (one old file is kept).
LOG_MAX_BYTES = 10 * 1024 * 1024
#: How many log lines a failure message quotes.
TAIL_LINES = 100


class ServiceLog:
    """``module.log``: one timestamped line per output line, rotated at :data:`LOG_MAX_BYTES`.

    A restarted service (``--resume``) appends to the log of the earlier run.  The last
    :data:`TAIL_LINES` lines are also kept in memory for failure messages.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tail: deque[str] = deque(maxlen=TAIL_LINES)
        self._handle: IO[bytes] | None = None
        self._size = 0
        self._lock = threading.Lock()

    def open(self) -> None:
        self._handle = open_regular(self.path, "ab")
        self._size = self._handle.tell()

    def write(self, stream: str, text: str) -> None:
        self.tail.append(text if stream == "stdout" else f"[{stream}] {text}")
        stamp = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
        record = f"{stamp} {stream} {text}\n".encode("utf-8", "replace")
        with self._lock:
            if self._handle is None:
                return
            if self._size and self._size + len(record) > LOG_MAX_BYTES:
                self._handle.close()
                self.path.replace(self.path.with_name(self.path.name + ".1"))
                self._handle = open_regular(self.path, "ab")
                self._size = 0
            self._handle.write(record)
            self._size += len(record)

    def flush(self) -> None:
        with self._lock:
            if self._handle is not None:
                self._handle.flush()

    def close(self) -> None:
        with self._lock:
            if self._handle is not None:
                self._handle.close()
                self._handle = None
