"""The summary of a run: typed records, and ``.simba/summary.json`` built from them.

:class:`RunSummary` is what a run ended with, whatever the outcome (the CLI shows it
after a failure too); :meth:`RunSummary.to_json` is the file's document, key for key.
:class:`SummaryFile` keeps some disk space for it while the run is open, so that a run
stopped by a full disk still says so in ``summary.json``; :func:`cannot_write` is the
one message for a write of SIMBA's own that failed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from simba.engine.state import ModuleState, RunState
from simba.errors import RunInterrupted, SimbaError
from simba.events import RunOutcome
from simba.jsonfile import write_json

#: Bytes kept on the disk for ``summary.json`` while a run is open (``.simba/.summary.reserve``).
RESERVE_BYTES = 256 * 1024


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ModuleStats:
    """One module's calls in a run: how many, how many failed, how long they took."""

    calls: int
    failures: int
    wall_time: float
    max_wall_time: float
    last_run_tick: int | None
    module_data: Mapping[str, Any] | None

    @classmethod
    def of(cls, state: ModuleState) -> ModuleStats:
        return cls(
            calls=state.calls,
            failures=state.failures,
            wall_time=state.wall_time,
            max_wall_time=state.max_wall_time,
            last_run_tick=state.last_run_tick,
            module_data=state.module_data,
        )

    @property
    def mean_wall_time(self) -> float | None:
        return self.wall_time / self.calls if self.calls else None

    def to_json(self) -> dict[str, Any]:
        mean = self.mean_wall_time
        return {
            "calls": self.calls,
            "failures": self.failures,
            "wallTime": round(self.wall_time, 6),
            "meanWallTime": None if mean is None else round(mean, 6),
            "maxWallTime": round(self.max_wall_time, 6),
            "lastRunTick": self.last_run_tick,
            "moduleData": self.module_data,
        }


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ServiceSummary:
    """A ``service`` module at the end of a run: its API, its last count, how it ended."""

    api: str | None
    jobs_completed: int | None
    exit_code: int | None
    signal: str | None
    """The name of the signal that ended it, if one did."""
    ended_early: bool
    log: str
    """Where its ``module.log`` is."""

    def to_json(self) -> dict[str, Any]:
        return {
            "api": self.api,
            "jobsCompleted": self.jobs_completed,
            "exitCode": self.exit_code,
            "signal": self.signal,
            "endedEarly": self.ended_early,
            "log": self.log,
        }


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class RunSummary:
    """How a run ended: its outcome, its counts and times, its final data."""

    simba: str
    """The SIMBA version that ran it."""
    run_id: str
    run_directory: Path
    outcome: RunOutcome
    error: str | None
    initial_tick: int
    final_tick: int
    calls: int
    planned_calls: int
    wall_time: float
    common_data: Mapping[str, Any] | None
    modules: Mapping[str, ModuleStats]
    services: Mapping[str, ServiceSummary] | None = None
    """``None`` when the scenario has no services (then summary.json has no such key)."""
    leftovers: tuple[str, ...] = ()
    """Processes of the run stopped at its end, ``pid (command)`` (a key only if any)."""

    def to_json(self) -> dict[str, Any]:
        """The document of ``summary.json``."""
        document: dict[str, Any] = {
            "simba": self.simba,
            "runId": self.run_id,
            "runDirectory": str(self.run_directory),
            "outcome": self.outcome,
            "error": self.error,
            "initialTick": self.initial_tick,
            "finalTick": self.final_tick,
            "calls": self.calls,
            "plannedCalls": self.planned_calls,
            "wallTime": round(self.wall_time, 6),
            "commonData": self.common_data,
            "modules": {name: stats.to_json() for name, stats in self.modules.items()},
        }
        if self.services is not None:
            document["services"] = {name: s.to_json() for name, s in self.services.items()}
        if self.leftovers:
            document["leftovers"] = list(self.leftovers)
        return document


def outcome_of(error: SimbaError | None) -> RunOutcome:
    """``success`` without an error, ``interrupted`` after a signal, else ``failed``."""
    if error is None:
        return "success"
    return "interrupted" if isinstance(error, RunInterrupted) else "failed"


def summarise(
    *,
    version: str,
    run_directory: Path,
    error: SimbaError | None,
    ticks: tuple[int, int],
    state: RunState,
    planned_calls: int,
    wall_time: float,
    services: Mapping[str, ServiceSummary] | None,
    leftovers: tuple[str, ...] = (),
) -> RunSummary:
    """The summary of a run that ended with ``error`` (``None``: success) in ``state``."""
    return RunSummary(
        simba=version,
        run_id=run_directory.name,
        run_directory=run_directory,
        outcome=outcome_of(error),
        error=str(error) if error else None,
        initial_tick=ticks[0],
        final_tick=ticks[1],
        calls=state.calls_done,
        planned_calls=planned_calls,
        wall_time=wall_time,
        common_data=state.common_data,
        modules={name: ModuleStats.of(m) for name, m in state.modules.items()},
        services=services,
        leftovers=leftovers,
    )


class SummaryFile:
    """``summary.json``, and the space kept for it while the run is open."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.reserve = path.with_name(".summary.reserve")

    def reserve_space(self) -> None:
        """Set :data:`RESERVE_BYTES` aside (allocated, not just a sparse size); no space: none."""
        try:
            fd = os.open(self.reserve, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                os.posix_fallocate(fd, 0, RESERVE_BYTES)
            finally:
                os.close(fd)
        except OSError:  # a full disk already: the summary takes its chance at the end
            self._release()

    def write(self, summary: RunSummary) -> None:
        """Write ``summary.json``; if that fails, free the reserve and try once more.

        Raises the :class:`OSError` of the last try if the summary cannot be written.
        """
        document = summary.to_json()
        try:
            write_json(self.path, document)
        except OSError:
            if not self._release():
                raise
            write_json(self.path, document)
        self._release()

    def write_slim(self, summary: RunSummary) -> bool:
        """After :meth:`write` failed: ``summary.json`` without ``commonData`` and the
        modules' ``moduleData`` (the state is in the checkpoint); whether it was written."""
        self._release()
        modules = {n: dataclasses.replace(m, module_data=None) for n, m in summary.modules.items()}
        slim = dataclasses.replace(summary, common_data=None, modules=modules)
        try:
            write_json(self.path, slim.to_json())
        except OSError:
            return False
        return True

    def _release(self) -> bool:
        """Delete the reserve; whether there was one."""
        with contextlib.suppress(FileNotFoundError):
            self.reserve.unlink()
            return True
        return False


def cannot_write(run_directory: Path, exc: OSError, what: str = "") -> SimbaError:
    """The error of a run that cannot write its own files, ``exc`` as its cause; ``what``
    says which, if the cause does not (`` (the log of service 'kv')``)."""
    error = SimbaError(
        f"cannot go on writing in {run_directory}{what}: {exc}; fix that (free space, "
        f"permissions), then continue with 'simba run --resume {run_directory}'"
    )
    error.__cause__ = exc  # kept also where it is not raised at once (the end of a run)
    return error
