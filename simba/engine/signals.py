"""Turning SIGINT and SIGTERM into a call, so a run can stop its work and checkpoint."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

#: The signals that stop a run (exit 130 and 143).
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class SignalForwarding:
    """While active (in the main thread only), SIGINT and SIGTERM call ``handler``."""

    def __init__(self, handler: Callable[[int], None]) -> None:
        self.handler = handler
        self.previous: dict[int, Any] = {}

    def __enter__(self) -> None:
        if threading.current_thread() is threading.main_thread():
            for signum in STOP_SIGNALS:
                self.previous[signum] = signal.signal(signum, self._handle)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.handler(signum)

    def __exit__(self, *exc_info: object) -> None:
        for signum, previous in self.previous.items():
            signal.signal(signum, previous)
