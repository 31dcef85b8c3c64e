"""Sweep files: a base scenario and its cells, each cell's scenario derived (DESIGN §12).

A sweep file (``schema/sweep.json``) names a base scenario and its cells: a list, or a
grid whose every combination is a cell.  A cell replaces declared ``commonData`` keys,
keys of a module's ``moduleData`` and driver settings; its scenario is derived from the
loaded base with :func:`dataclasses.replace`, never by changing the base.
:mod:`simba.sweep.pool` runs the cells.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simba import schemas
from simba.engine.protocol import derive_seed
from simba.errors import Problem, ScenarioError
from simba.jsonfile import JSONFileError, read_json
from simba.scenario import Scenario, load_scenario, with_driver
from simba.scenario.model import Driver
from simba.scenario.parsl_settings import ExecutorSettings, parse_settings
from simba.sweep.directory import RESERVED_NAMES

#: Driver settings a cell may not change: the sweep decides where cells run.
_FIXED_DRIVER_KEYS = ("outputDirectory", "runId", "cellId", "continueFromTick")
#: The most cells a sweep may have: a grid is counted before any cell is built, so that
#: a small file cannot ask for millions (each cell is a scenario in memory, and a run).
MAX_CELLS = 100_000


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
    _check_count(source, document)  # before the schema: it takes seconds on a long list
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
    if base.driver.seed is not None and "seed" not in cell.driver:
        scenario = dataclasses.replace(scenario, driver=_cell_seeded(scenario.driver, cell.id))
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


def _cell_seeded(driver: Driver, cell_id: str) -> Driver:
    """A cell's driver with its own seed, derived from the base's seed and the cell id
    (so cells are independent yet repeatable); a cell's ``driver.seed`` wins."""
    assert driver.seed is not None
    return dataclasses.replace(driver, seed=derive_seed(driver.seed, cell_id))


def _check_count(source: Path, document: Any) -> None:
    """Refuse a sweep of more than :data:`MAX_CELLS` cells, before building any.

    Runs before the schema is checked, so it looks only at parts of the expected shape.
    """
    if not isinstance(document, dict):
        return
    cells, grid = document.get("cells"), document.get("grid")
    if isinstance(cells, list):
        count, where, detail = len(cells), "cells", ""
    elif isinstance(grid, dict):
        sizes = [
            (".".join(path), len(values))
            for path, values in _axes(grid)
            if isinstance(values, list)
        ]
        count, where = math.prod(size for _, size in sizes), "grid"
        detail = " (" + " x ".join(f"{size:,} {key}" for key, size in sizes) + ")"
    else:
        return
    if count > MAX_CELLS:
        raise ScenarioError.single(
            source,
            where,
            f"the sweep has {count:,} cells{detail}; at most {MAX_CELLS:,} are allowed: "
            "use fewer values, or split it into several sweeps",
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
        reserved = {name.casefold() for name in RESERVED_NAMES}
        for index, cell in enumerate(cells):
            if cell.id.casefold() in reserved:
                problems.append(
                    Problem(
                        str(source),
                        f"cells[{index}].id",
                        f"the id {cell.id!r} is the name of one of the sweep's own files "
                        f"({', '.join(RESERVED_NAMES)}); choose another id",
                    )
                )
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
    axes = _axes(grid)
    width = len(str(math.prod(len(values) for _, values in axes)))
    cells = []
    for index, combination in enumerate(itertools.product(*(values for _, values in axes))):
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


def _axes(grid: Mapping[str, Any]) -> list[tuple[tuple[str, ...], list[Any]]]:
    """The grid's keys (as paths) and their values, in the order of the file."""
    axes: list[tuple[tuple[str, ...], list[Any]]] = []
    for key, values in _items(grid.get("commonData")):
        axes.append((("commonData", key), values))
    for module, keys in _items(grid.get("moduleData")):
        for key, values in _items(keys):
            axes.append((("moduleData", module, key), values))
    for key, values in _items(grid.get("driver")):
        axes.append((("driver", key), values))
    return axes


def _items(section: Any) -> list[tuple[str, Any]]:
    """The entries of a JSON object (none if it is something else)."""
    return list(section.items()) if isinstance(section, dict) else []


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
