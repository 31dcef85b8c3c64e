"""Why a run stops early: SIGINT and SIGTERM turned into a call, and the stop they cause.

:class:`SignalForwarding` hands the signals to a handler; :class:`Stopping` records
the first reason to stop (a signal, a service that ended on its own, a failed call of
a concurrent batch), cancels the runner's calls, and raises it where a call checks.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from simba.engine.parallel import Stopped
from simba.errors import RunInterrupted, ServiceError
from simba.process import signal_name

#: The signals that stop a run (exit 130 and 143).
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class SignalForwarding:
    """While active (in the main thread only), SIGINT and SIGTERM call ``handler``.

    A Python handler that was installed before (``simba run --api`` has one, to say
    ``INFO: stopping`` and end in time) is called after it; Python's own
    ``KeyboardInterrupt`` handler is not (the run stops by ``handler`` instead).
    """

    def __init__(self, handler: Callable[[int], None]) -> None:
        self.handler = handler
        self.previous: dict[int, Any] = {}

    def __enter__(self) -> None:
        if threading.current_thread() is threading.main_thread():
            for signum in STOP_SIGNALS:
                self.previous[signum] = signal.signal(signum, self._handle)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.handler(signum)
        previous = self.previous.get(signum)
        if callable(previous) and previous is not signal.default_int_handler:
            previous(signum, frame)

    def __exit__(self, *exc_info: object) -> None:
        for signum, previous in self.previous.items():
            signal.signal(signum, previous)


class Stopping:
    """The run's reason to stop, if any; ``cancel`` stops the calls that run."""

    def __init__(self, cancel: Callable[[], None], run_dir: Path) -> None:
        self._cancel = cancel
        self._run_dir = run_dir
        self.signal: int | None = None
        self.failure: ServiceError | None = None
        """Set from a service's watcher thread when the service ended on its own."""
        self.batch_failed = False

    def on_signal(self, signum: int) -> None:
        if self.signal is None:
            self.signal = signum
            self._cancel()

    def on_service_failure(self, error: ServiceError) -> None:
        """A service ended on its own (called from its watcher thread): stop the calls now."""
        if self.failure is None:
            self.failure = error
            self._cancel()

    def stop_batch(self) -> None:
        """A call of a concurrent batch failed: stop the others."""
        self.batch_failed = True
        self._cancel()

    def check(self) -> None:
        """Raise if the run is stopping: for a signal, or because another call failed."""
        if self.failure is not None:
            raise self.failure
        if self.batch_failed and self.signal is None:
            raise Stopped
        if self.signal is not None:
            name = signal_name(self.signal)
            raise RunInterrupted(
                f"stopped by {name}; the run can be continued with "
                f"'simba run --resume {self._run_dir}'",
                signal_number=self.signal,
            )
