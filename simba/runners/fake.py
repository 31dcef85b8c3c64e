"""An in-memory runner for fast engine tests: calls answered by a function, no process.

Like httpx's ``MockTransport``: a :class:`FakeRunner` is built with a handler,
``handler(request, config) -> status document | exit code``, that plays the module.
For each call the runner reads the config document the engine wrote
(``request.config_path``), does the request's ``meanwhile`` work (as every runner
does), asks the handler, and then:

- a mapping is the status document: it is written to the config's ``statusFile`` and
  the call exits with code 0;
- an ``int`` is the exit code, and no status file is written;
- a :class:`~simba.runners.base.CallResult` is returned as it is (a timeout, a signal,
  ``INFO:`` lines), and no status file is written.

Without a handler every call succeeds.  Every call is recorded in :attr:`FakeRunner.calls`
(module name and config), in the order the calls were run.  The module's command is
never run, so a test scenario may use any command that exists (``true``).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simba.runners.base import CallRequest, CallResult, Runner

#: What a handler returns: a status document, an exit code, or a whole result.
Answer = Mapping[str, Any] | int | CallResult
Handler = Callable[[CallRequest, Mapping[str, Any]], Answer]


@dataclass(frozen=True, slots=True, kw_only=True)
class FakeCall:
    """One call the fake runner answered: the module's name and the config it was given."""

    module: str
    config: Mapping[str, Any]

    @property
    def mode(self) -> str:
        return str(self.config["mode"])

    @property
    def tick(self) -> int:
        return int(self.config["currentTick"])


def succeed(request: CallRequest, config: Mapping[str, Any]) -> Answer:
    """The default handler: every call succeeds."""
    return {"status": "success"}


class FakeRunner(Runner):
    """Answers every call with ``handler`` instead of a module process."""

    def __init__(self, handler: Handler = succeed) -> None:
        self.handler = handler
        self.calls: list[FakeCall] = []
        self._lock = threading.Lock()
        self._cancelled = False

    def run(self, request: CallRequest) -> CallResult:
        if self._cancelled:
            return CallResult(exit_code=None, cancelled=True, error="was cancelled")
        config = json.loads(request.config_path.read_text(encoding="utf-8"))
        with self._lock:
            self.calls.append(FakeCall(module=request.module.name, config=config))
        if request.meanwhile is not None:
            request.meanwhile()
        answer = self.handler(request, config)
        if isinstance(answer, CallResult):
            return answer
        if isinstance(answer, int):
            return CallResult(exit_code=answer)
        Path(config["statusFile"]).write_text(json.dumps(dict(answer)), encoding="utf-8")
        return CallResult(exit_code=0)

    def cancel(self) -> None:
        """Calls from now on come back cancelled."""
        self._cancelled = True
