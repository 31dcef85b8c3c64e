"""Sweeps: many cells of one base scenario, each a complete run (DESIGN §12).

A sweep file (``schema/sweep.json``) names a base scenario and its cells: a list, or a
grid whose every combination is a cell.  A cell replaces declared ``commonData`` keys,
keys of a module's ``moduleData`` and driver settings; its scenario is derived from the
loaded base with :func:`dataclasses.replace`, never by changing the base.  Each cell
runs in ``<outputDirectory>/<runId>/<cellId>/`` as a process of its own
(``simba sweep SWEEP --cell ID``), so that a crash, a signal or a full disk in one cell
leaves the others alone: up to ``jobs`` at once on this machine, or each as a Parsl
bash_app (on a SLURM cluster, say).  A failed cell does not stop the others.  With
``resume``, cells that finished are skipped and the others continue from their
checkpoint (or start again).  ``sweep-summary.json`` in the sweep's directory records
every cell's parameters, outcome, wall time and chosen final commonData values; the
output of each cell's process goes to ``.sweep/<cellId>.log``.

::

    <outputDirectory>/<runId>/
        sweep-summary.json
        .sweep/sweep.json       what this sweep is (to refuse a changed one on --resume)
        .sweep/<cellId>.log     the cell process's output
        .sweep/parsl/           Parsl's files, with --parsl
        <cellId>/               the cell's run directory
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import itertools
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simba import schemas
from simba._version import __version__
from simba.engine.rundir import RunFiles, default_run_id, make_way
from simba.engine.signals import SignalForwarding
from simba.errors import (
    Problem,
    RunDirectoryError,
    RunInterrupted,
    RunnerError,
    ScenarioError,
    tail,
)
from simba.jsonfile import JSONFileError, read_json, write_json
from simba.process import signal_name
from simba.scenario.loader import Scenario, load_scenario, with_driver
from simba.scenario.parsl_settings import (
    INSTALL_PARSL,
    ExecutorSettings,
    parse_settings,
    parsl_installed,
)

#: The directory of a sweep's own files, beside the cells.
SWEEP_META = ".sweep"
SUMMARY_FILE = "sweep-summary.json"
#: Driver settings a cell may not change: the sweep decides where cells run.
_FIXED_DRIVER_KEYS = ("outputDirectory", "runId", "cellId", "continueFromTick")
#: Lines of a cell's log quoted when it failed without a summary.
_LOG_LINES = 20


@dataclass(frozen=True, slots=True, kw_only=True)
class Cell:
    """One experimental setup: what it changes in the base scenario."""

    id: str
    common_data: Mapping[str, Any]
    module_data: Mapping[str, Mapping[str, Any]]
    driver: Mapping[str, Any]

    @property
    def parameters(self) -> dict[str, Any]:
        """What the cell changes, as ``commonData.x`` / ``moduleData.m.x`` / ``driver.x``."""
        values = {f"commonData.{key}": value for key, value in self.common_data.items()}
        for module, changes in self.module_data.items():
            values.update({f"moduleData.{module}.{key}": v for key, v in changes.items()})
        values.update({f"driver.{key}": value for key, value in self.driver.items()})
        return values


@dataclass(frozen=True, slots=True, kw_only=True)
class Sweep:
    """A loaded sweep: the base scenario, the cells and each cell's scenario."""

    source: Path
    base: Scenario
    cells: tuple[Cell, ...]
    scenarios: tuple[Scenario, ...]
    """The scenario of each cell, in the order of ``cells``."""
    run_id: str | None
    output_directory: Path
    summary_keys: tuple[str, ...]
    parsl: ExecutorSettings | None
    fingerprint: str
    """sha256 of the sweep file and the base scenario: a resumed sweep must be the same."""

    def cell(self, cell_id: str) -> tuple[Cell, Scenario]:
        for cell, scenario in zip(self.cells, self.scenarios, strict=True):
            if cell.id == cell_id:
                return cell, scenario
        known = ", ".join(cell.id for cell in self.cells)
        raise ScenarioError.single(self.source, "cells", f"no cell {cell_id!r}; cells: {known}")


@dataclass(frozen=True, slots=True, kw_only=True)
class CellOutcome:
    """How one cell ended, as ``sweep-summary.json`` records it."""

    id: str
    parameters: Mapping[str, Any]
    outcome: str
    """``success``, ``failed``, ``interrupted`` or ``not run``."""
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
    directory: Path
    cells: tuple[CellOutcome, ...]
    outcome: str
    """``success`` when every cell succeeded, ``interrupted`` after a signal, else ``failed``."""


# -- loading ---------------------------------------------------------------------------------


def load_sweep(path: str | os.PathLike[str], *, cwd: Path | None = None) -> Sweep:
    """Load a sweep file and derive each cell's scenario; ScenarioError lists every problem."""
    source = Path(path).resolve()
    cwd = cwd or Path.cwd()
    try:
        document = read_json(source)
    except FileNotFoundError:
        raise ScenarioError.single(source, "", "this file does not exist") from None
    except JSONFileError as exc:
        raise ScenarioError.single(source, "", str(exc)) from None
    problems = schemas.validate("sweep", document, file=str(source))
    if problems:
        raise ScenarioError(problems)
    if ("cells" in document) == ("grid" in document):
        raise ScenarioError.single(source, "", "give the cells either as 'cells' or as 'grid'")
    base = load_scenario(source.parent / document["scenario"], cwd=cwd)
    cells, problems = _cells(source, document, base)
    parsl, parsl_problems = _parsl(source, document.get("parsl"))
    problems += parsl_problems
    scenarios = []
    for index, cell in enumerate(cells):
        where = f"cells[{index}]" if "cells" in document else "grid"
        try:
            scenarios.append(derive(base, cell, file=source, where=where))
        except ScenarioError as exc:
            problems += exc.problems
    if problems:
        raise ScenarioError(dict.fromkeys(problems))  # a grid repeats a problem in many cells
    output = document.get("outputDirectory")
    digest = hashlib.sha256(source.read_bytes())
    digest.update(base.fingerprint.encode())
    return Sweep(
        source=source,
        base=base,
        cells=tuple(cells),
        scenarios=tuple(scenarios),
        run_id=document.get("runId") or base.driver.run_id,
        output_directory=cwd / output if output else base.driver.output_directory,
        summary_keys=tuple(document.get("summary", tuple(base.common_data or ()))),
        parsl=parsl,
        fingerprint=digest.hexdigest(),
    )


def derive(base: Scenario, cell: Cell, *, file: Path, where: str) -> Scenario:
    """The scenario of ``cell``: ``base`` with the cell's changes (``base`` stays as it is)."""
    problems: list[Problem] = []
    declared = base.common_data or {}
    for key in cell.common_data:
        if key not in declared:
            problems.append(
                Problem(
                    str(file),
                    f"{where}.commonData.{key}",
                    f"{key!r} is not a commonData key of the base scenario; declare it there",
                )
            )
    names = {module.name for module in base.modules}
    for name in cell.module_data:
        if name not in names:
            problems.append(
                Problem(
                    str(file),
                    f"{where}.moduleData.{name}",
                    f"the base scenario has no module {name!r}; its modules: "
                    + ", ".join(sorted(names)),
                )
            )
    for key in cell.driver:
        if key in _FIXED_DRIVER_KEYS:
            problems.append(
                Problem(
                    str(file),
                    f"{where}.driver.{key}",
                    f"a cell cannot change {key}: the sweep decides where each cell runs",
                )
            )
    if problems:
        raise ScenarioError(problems)
    scenario = base
    if cell.driver:
        scenario = with_driver(base, cell.driver, file=file, where=f"{where}.driver")
    modules = tuple(
        dataclasses.replace(m, module_data={**(m.module_data or {}), **cell.module_data[m.name]})
        if m.name in cell.module_data
        else m
        for m in scenario.modules
    )
    changes = json.dumps(
        [cell.common_data, cell.module_data, cell.driver], sort_keys=True, default=str
    )
    return dataclasses.replace(
        scenario,
        modules=modules,
        common_data={**declared, **cell.common_data} if base.common_data is not None else None,
        fingerprint=hashlib.sha256((base.fingerprint + changes).encode()).hexdigest(),
    )


def _cells(
    source: Path, document: Mapping[str, Any], base: Scenario
) -> tuple[list[Cell], list[Problem]]:
    problems: list[Problem] = []
    if "cells" in document:
        entries = document["cells"]
        width = len(str(len(entries)))
        cells = [
            Cell(
                id=entry.get("id", f"cell-{index + 1:0{width}d}"),
                common_data=entry.get("commonData", {}),
                module_data=entry.get("moduleData", {}),
                driver=entry.get("driver", {}),
            )
            for index, entry in enumerate(entries)
        ]
        seen: dict[str, int] = {}
        for index, cell in enumerate(cells):
            if cell.id in seen:
                problems.append(
                    Problem(
                        str(source),
                        f"cells[{index}].id",
                        f"the id {cell.id!r} is also used by cells[{seen[cell.id]}]; "
                        "cell ids must be unique",
                    )
                )
            seen.setdefault(cell.id, index)
        return cells, problems
    return _grid_cells(document["grid"]), problems


def _grid_cells(grid: Mapping[str, Any]) -> list[Cell]:
    """Every combination of the grid's values, the first key varying slowest."""
    axes: list[tuple[tuple[str, ...], list[Any]]] = []
    for key, values in grid.get("commonData", {}).items():
        axes.append((("commonData", key), values))
    for module, keys in grid.get("moduleData", {}).items():
        for key, values in keys.items():
            axes.append((("moduleData", module, key), values))
    for key, values in grid.get("driver", {}).items():
        axes.append((("driver", key), values))
    combinations = list(itertools.product(*(values for _, values in axes)))
    width = len(str(len(combinations)))
    cells = []
    for index, combination in enumerate(combinations):
        common: dict[str, Any] = {}
        module_data: dict[str, dict[str, Any]] = {}
        driver: dict[str, Any] = {}
        for (path, _), value in zip(axes, combination, strict=True):
            if path[0] == "commonData":
                common[path[1]] = value
            elif path[0] == "moduleData":
                module_data.setdefault(path[1], {})[path[2]] = value
            else:
                driver[path[1]] = value
        cells.append(
            Cell(
                id=f"cell-{index + 1:0{width}d}",
                common_data=common,
                module_data=module_data,
                driver=driver,
            )
        )
    return cells


def _parsl(
    source: Path, section: Mapping[str, Any] | None
) -> tuple[ExecutorSettings | None, list[Problem]]:
    """The executor settings that run the cells, checked with the schedule's own schema."""
    if section is None:
        return None, []
    entry = {"name": "sweep", "priority": 0, "type": "parsl", **section}
    found = schemas.validate("schedule", {"schedule": [entry]}, file=str(source))
    problems = [
        dataclasses.replace(p, path=p.path.replace("schedule[0]", "parsl", 1)) for p in found
    ]
    if problems:
        return None, problems
    settings, messages = parse_settings(entry)
    problems = [Problem(str(source), f"parsl.{key}", message) for key, message in messages]
    return settings, problems


# -- running ---------------------------------------------------------------------------------


class SweepRunner:
    """Runs the cells of a sweep as processes: locally (``jobs`` at once) or through Parsl."""

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
        self.meta = self.directory / SWEEP_META
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
        identity = {"sweep": str(self.sweep.source), "fingerprint": self.sweep.fingerprint}
        identity_file = self.meta / "sweep.json"
        if self.resume:
            if not identity_file.is_file():
                raise RunDirectoryError(
                    f"cannot resume: {self.directory} holds no sweep (no {identity_file})"
                )
            if read_json(identity_file).get("fingerprint") != self.sweep.fingerprint:
                raise RunDirectoryError(
                    f"cannot resume {self.directory}: the sweep file or its base scenario "
                    "changed since it started; restore them, or start a new sweep (--run-id)"
                )
        else:
            make_way(self.directory, marker=self.meta, kind="sweep", overwrite=self.overwrite)
        self.meta.mkdir(parents=True, exist_ok=True)
        write_json(identity_file, identity)

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
        text = "\n".join(lines).strip() or "(nothing)"
        why = f" ({reason.splitlines()[0]})" if reason else ""
        return f"the cell's process ended without a summary{why}; its log ends with:\n{text}"

    def _log(self, cell: Cell) -> Path:
        return self.meta / f"{cell.id}.log"

    def _write_summary(self, result: SweepResult) -> None:
        counts: dict[str, int] = {}
        for cell in result.cells:
            counts[cell.outcome] = counts.get(cell.outcome, 0) + 1
        write_json(
            self.directory / SUMMARY_FILE,
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
                    with self._log(cell).open("wb") as log:
                        process = subprocess.Popen(
                            self.cell_command(cell),
                            stdin=subprocess.DEVNULL,
                            stdout=log,
                            stderr=subprocess.STDOUT,
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
        from simba.runners.parsl import ParslSession, bash_script

        session = ParslSession(self.meta / "parsl")
        settings = self.sweep.parsl or ExecutorSettings()
        futures: dict[Any, tuple[Cell, float]] = {}
        try:
            for cell in cells:
                log = self._log(cell)
                script = bash_script(
                    self.cell_command(cell), cwd=Path.cwd(), stdout=log, stderr=log, environment={}
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
    observers: Iterable[Any] = (),
) -> Any:
    """Run one cell in this process; with ``resume``, continue it or skip it if it finished."""
    from simba.engine import Engine, RunOptions

    _, scenario = sweep.cell(cell_id)
    run_id = run_id or sweep.run_id
    if run_id is None:
        raise RunDirectoryError("to run one cell, name its sweep: give --run-id")
    output = (output_directory or sweep.output_directory).resolve()
    directory = output / run_id / cell_id
    options = RunOptions(
        output_directory=output, run_id=run_id, cell_id=cell_id, overwrite=overwrite
    )
    if resume:
        checkpoint = RunFiles(directory).checkpoint
        if checkpoint.is_file():
            options = RunOptions(resume=directory)
        elif directory.exists():
            options = dataclasses.replace(options, overwrite=True)
    return Engine(scenario, options, list(observers)).run()
