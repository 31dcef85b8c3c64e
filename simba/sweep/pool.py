"""Running a sweep's cells: each a process of its own, locally or as a Parsl app.

Each cell runs in ``<outputDirectory>/<runId>/<cellId>/`` as a process of its own
(``simba sweep SWEEP --cell ID``), so that a crash, a signal or a full disk in one cell
leaves the others alone: up to ``jobs`` at once on this machine, or each as a Parsl
bash_app (on a SLURM cluster, say).  A failed cell does not stop the others.  With
``resume``, cells that finished are skipped and the others continue from their
checkpoint (or start again).  ``sweep-summary.json`` in the sweep's directory records
every cell's parameters, outcome, wall time and chosen final commonData values; the
output of each cell's process goes to ``.sweep/<cellId>.log``.  The directory, its lock
and the cleanup after a killed driver are :mod:`simba.sweep.directory`.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from simba._version import __version__
from simba.engine.rundir import RunFiles, default_run_id
from simba.engine.signals import SignalForwarding
from simba.errors import RunDirectoryError, RunInterrupted, RunnerError, ScenarioError, tail
from simba.jsonfile import read_json, write_json
from simba.process import signal_name
from simba.scenario.parsl_settings import INSTALL_PARSL, ExecutorSettings, parsl_installed
from simba.sweep.cells import Cell, Sweep
from simba.sweep.directory import SweepDirectory

if TYPE_CHECKING:
    from simba.engine import RunResult
    from simba.events import Event

#: How a cell ended; ``not run``: a signal stopped the sweep before the cell started.
CellState = Literal["success", "failed", "interrupted", "not run"]
SweepState = Literal["success", "failed", "interrupted"]
#: Lines of a cell's log quoted when it failed without a summary.
_LOG_LINES = 20
#: How the line that starts each attempt in a cell's log begins.
_ATTEMPT = "--- simba sweep: cell "


@dataclass(frozen=True, slots=True, kw_only=True)
class CellOutcome:
    """How one cell ended, as ``sweep-summary.json`` records it."""

    id: str
    parameters: Mapping[str, Any]
    outcome: CellState
    ran: bool
    """Whether this invocation ran the cell (a resumed sweep skips finished cells)."""
    wall_time: float | None
    common_data: Mapping[str, Any]
    """The chosen final commonData values."""
    error: str | None
    run_directory: Path

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "parameters": dict(self.parameters),
            "outcome": self.outcome,
            "ran": self.ran,
            "wallTime": None if self.wall_time is None else round(self.wall_time, 6),
            "commonData": dict(self.common_data),
            "error": self.error,
            "runDirectory": str(self.run_directory),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class SweepResult:
    """How a whole sweep ended: its directory and every cell's outcome, in order."""

    directory: Path
    cells: tuple[CellOutcome, ...]
    outcome: SweepState
    """``success`` when every cell succeeded, ``interrupted`` after a signal, else ``failed``."""


class SweepPool:
    """The cells of a sweep as a pool of processes: local (``jobs`` at once) or Parsl apps.

    Not a :class:`~simba.runners.base.Runner`: it runs no module calls, but whole runs,
    each in a ``simba sweep SWEEP --cell ID`` process of its own.
    """

    def __init__(
        self,
        sweep: Sweep,
        *,
        output_directory: Path | None = None,
        run_id: str | None = None,
        jobs: int | None = None,
        parsl: bool = False,
        resume: bool = False,
        overwrite: bool = False,
        on_cell: Callable[[CellOutcome], None] = lambda outcome: None,
    ) -> None:
        self.sweep = sweep
        if parsl and not parsl_installed():
            raise ScenarioError.single(
                sweep.source,
                "",
                f"simba sweep --parsl needs Parsl, which is not installed; install it with: "
                f"{INSTALL_PARSL}",
            )
        run_id = run_id or sweep.run_id
        if run_id is None:
            if resume:
                raise RunDirectoryError(
                    "to resume a sweep, name it: give --run-id (or runId in the sweep file)"
                )
            run_id = default_run_id()
        self.run_id = run_id
        self.output_directory = (output_directory or sweep.output_directory).resolve()
        self.directory = self.output_directory / run_id
        self.place = SweepDirectory(self.directory)
        self.meta = self.place.meta
        self.jobs = max(1, jobs or os.cpu_count() or 1)
        self.use_parsl = parsl
        self.resume = resume
        self.overwrite = overwrite
        self.on_cell = on_cell
        self._signal: int | None = None
        self._children: dict[str, subprocess.Popen[bytes]] = {}
        self._lock = threading.Lock()

    def run(self) -> SweepResult:
        """Run every unfinished cell; the outcome of each (a failed cell stops no other)."""
        self._prepare()
        try:
            return self._run()
        finally:
            self.place.unlock()

    def _run(self) -> SweepResult:
        outcomes: dict[str, CellOutcome] = {}
        pending = []
        for cell in self.sweep.cells:
            earlier = self._finished(cell)
            if earlier is not None:
                outcomes[cell.id] = earlier
                self.on_cell(earlier)
            else:
                pending.append(cell)
        with SignalForwarding(self._on_signal):
            finished = self._run_with_parsl(pending) if self.use_parsl else self._run_here(pending)
            for outcome in finished:
                outcomes[outcome.id] = outcome
                self.on_cell(outcome)
        for cell in pending:
            if cell.id not in outcomes:
                outcomes[cell.id] = self._outcome(cell, ran=False, wall_time=None)
        ordered = tuple(outcomes[cell.id] for cell in self.sweep.cells)
        result = SweepResult(
            directory=self.directory,
            cells=ordered,
            outcome=(
                "interrupted"
                if self._signal is not None
                else "success"
                if all(o.outcome == "success" for o in ordered)
                else "failed"
            ),
        )
        self._write_summary(result)
        if self._signal is not None:
            raise RunInterrupted(
                f"the sweep was stopped by {signal_name(self._signal)}; continue it with "
                f"'simba sweep {self.sweep.source} --resume --run-id {self.run_id}'",
                signal_number=self._signal,
            )
        return result

    # -- the sweep directory ----------------------------------------------------------------

    def _prepare(self) -> None:
        """Lock the sweep's directory: a new one, or (``resume``) the same sweep as before."""
        if self.resume:
            self.place.open_existing(self.sweep.fingerprint)
        else:
            self.place.create(overwrite=self.overwrite)
        self.place.write_identity(self.sweep.source, self.sweep.fingerprint)

    def _finished(self, cell: Cell) -> CellOutcome | None:
        """The earlier outcome of a cell that a resumed sweep skips, else None."""
        if not self.resume:
            return None
        outcome = self._outcome(cell, ran=False, wall_time=None)
        return outcome if outcome.outcome == "success" else None

    def _outcome(
        self, cell: Cell, *, ran: bool, wall_time: float | None, reason: str | None = None
    ) -> CellOutcome:
        """What the cell's run directory says about it (``reason``: why its process failed)."""
        directory = self.directory / cell.id
        summary: dict[str, Any] = {}
        with contextlib.suppress(OSError, ValueError):
            summary = read_json(RunFiles(directory).summary)
        common = summary.get("commonData") or {}
        if summary:
            outcome, error = summary.get("outcome", "failed"), summary.get("error")
            wall_time = summary.get("wallTime", wall_time)
        elif ran:
            outcome, error = "failed", self._log_tail(cell, reason)
        else:
            outcome, error = "not run", None
        return CellOutcome(
            id=cell.id,
            parameters=cell.parameters,
            outcome=outcome,
            ran=ran,
            wall_time=wall_time,
            common_data={key: common.get(key) for key in self.sweep.summary_keys},
            error=error,
            run_directory=directory,
        )

    def _log_tail(self, cell: Cell, reason: str | None) -> str:
        lines = tail(self._log(cell), _LOG_LINES, max_bytes=65536)
        starts = [i for i, line in enumerate(lines) if line.startswith(_ATTEMPT)]
        lines = lines[starts[-1] + 1 :] if starts else lines  # this attempt's lines only
        text = "\n".join(lines).strip() or "(nothing)"
        why = f" ({reason.splitlines()[0]})" if reason else ""
        return f"the cell's process ended without a summary{why}; its log ends with:\n{text}"

    def _log(self, cell: Cell) -> Path:
        return self.place.log(cell.id)

    def _open_log(self, cell: Cell) -> Path:
        """The cell's log, with a line that starts this attempt (earlier ones are kept)."""
        log = self._log(cell)
        with log.open("a", encoding="utf-8") as handle:
            handle.write(
                f"{_ATTEMPT}{cell.id} "
                f"{'resumed' if self.resume else 'started'} at {time.strftime('%Y-%m-%d %H:%M:%S')}"
                " ---\n"
            )
        return log

    def _write_summary(self, result: SweepResult) -> None:
        counts: dict[str, int] = {}
        for cell in result.cells:
            counts[cell.outcome] = counts.get(cell.outcome, 0) + 1
        write_json(
            self.place.summary,
            {
                "simba": __version__,
                "sweep": str(self.sweep.source),
                "runId": self.run_id,
                "directory": str(self.directory),
                "mode": "parsl" if self.use_parsl else "local",
                "outcome": result.outcome,
                "counts": counts,
                "summaryKeys": list(self.sweep.summary_keys),
                "cells": [cell.to_json() for cell in result.cells],
            },
        )

    # -- cell processes ---------------------------------------------------------------------

    def cell_command(self, cell: Cell) -> list[str]:
        """The command that runs one cell (``simba sweep SWEEP --cell ID``)."""
        command = [
            sys.executable,
            "-m",
            "simba",
            "sweep",
            str(self.sweep.source),
            "--cell",
            cell.id,
            "--run-id",
            self.run_id,
            "-o",
            str(self.output_directory),
        ]
        return [*command, "--resume"] if self.resume else command

    def _run_here(self, cells: Sequence[Cell]) -> Iterator[CellOutcome]:
        """Run cells as child processes, ``jobs`` at once."""
        waiting = list(cells)
        running: dict[str, tuple[Cell, subprocess.Popen[bytes], float]] = {}
        try:
            while waiting or running:
                while waiting and len(running) < self.jobs and self._signal is None:
                    cell = waiting.pop(0)
                    with self._open_log(cell).open("ab") as log:
                        process = subprocess.Popen(
                            self.cell_command(cell),
                            stdin=subprocess.DEVNULL,
                            stdout=log,
                            stderr=subprocess.STDOUT,
                            env={**os.environ, **self.place.marker},
                        )
                    with self._lock:
                        self._children[cell.id] = process
                    running[cell.id] = (cell, process, time.perf_counter())
                if self._signal is not None:
                    waiting.clear()
                for cell_id, (cell, process, started) in list(running.items()):
                    if process.poll() is None:
                        continue
                    del running[cell_id]
                    with self._lock:
                        del self._children[cell_id]
                    yield self._outcome(cell, ran=True, wall_time=time.perf_counter() - started)
                if running:
                    time.sleep(0.05)
        finally:
            for _, process, _ in running.values():  # only after an error in this loop
                process.kill()
                process.wait()

    def _run_with_parsl(self, cells: Sequence[Cell]) -> Iterator[CellOutcome]:
        """Run each cell as a Parsl bash_app on the sweep's executor."""
        from simba.runners.parsl import bash_script
        from simba.runners.parsl_session import ParslSession

        session = ParslSession(self.meta / "parsl")
        settings = self.sweep.parsl or ExecutorSettings()
        futures: dict[Any, tuple[Cell, float]] = {}
        try:
            for cell in cells:
                log = self._open_log(cell)
                script = bash_script(
                    self.cell_command(cell),
                    cwd=Path.cwd(),
                    stdout=log,
                    stderr=log,
                    environment=self.place.marker,
                    append=True,
                )
                try:
                    future, _ = session.submit(settings, script)
                except Exception as exc:
                    raise RunnerError(
                        f"could not start the sweep's Parsl executor {settings.label!r}: {exc}"
                    ) from exc
                futures[future] = (cell, time.perf_counter())
            while futures and self._signal is None:
                done = [future for future in futures if future.done()]
                for future in done:
                    cell, started = futures.pop(future)
                    failure = future.exception()
                    yield self._outcome(
                        cell,
                        ran=True,
                        wall_time=time.perf_counter() - started,
                        reason=None if failure is None else f"{type(failure).__name__}: {failure}",
                    )
                if not done:
                    time.sleep(0.1)
        finally:
            session.shutdown()
        for cell, started in futures.values():  # cut off by a signal
            yield self._outcome(cell, ran=True, wall_time=time.perf_counter() - started)

    def _on_signal(self, signum: int) -> None:
        if self._signal is None:
            self._signal = signum
        with self._lock:
            children = list(self._children.values())
        for process in children:  # the cells checkpoint and stop
            if process.poll() is None:
                os.kill(process.pid, signum)


def run_cell(
    sweep: Sweep,
    cell_id: str,
    *,
    output_directory: Path | None = None,
    run_id: str | None = None,
    resume: bool = False,
    overwrite: bool = False,
    observers: Iterable[Callable[[Event], None]] = (),
) -> RunResult:
    """Run one cell in this process; with ``resume``, continue it or skip it if it finished."""
    from simba.engine import Engine, RunOptions, resume_options

    _, scenario = sweep.cell(cell_id)
    run_id = run_id or sweep.run_id
    if run_id is None:
        raise RunDirectoryError("to run one cell, name its sweep: give --run-id")
    output = (output_directory or sweep.output_directory).resolve()
    directory = output / run_id / cell_id
    if resume and RunFiles(directory).checkpoint.is_file():
        _, options = resume_options(directory)
    else:
        options = RunOptions(
            output_directory=output,
            run_id=run_id,
            cell_id=cell_id,
            overwrite=overwrite or (resume and directory.exists()),
        )
    return Engine(scenario, options, list(observers)).run()
