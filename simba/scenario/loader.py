"""Loading a scenario: files -> schema validation -> semantic checks -> a frozen Scenario.

A scenario is a directory (or its ``schedule.json``) with ``driver.json`` and
``schedule.json``, or one file with ``"driver"`` beside ``"schedule"`` (DESIGN §2).
Every problem is collected and raised once as :class:`~simba.errors.ScenarioError`;
nothing is written anywhere.  The driver section is checked by
:mod:`simba.scenario.driver`, the schedule by :mod:`simba.scenario.schedule`.  After
loading, nothing downstream reads raw dicts except the opaque payloads ``commonData``
and ``moduleData``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from simba import schemas
from simba.jsonfile import JSONFileError, read_json
from simba.names import NAME_RULE, is_name
from simba.scenario.driver import parse_driver
from simba.scenario.model import ModuleSpec, ModuleType, Scenario
from simba.scenario.problems import Problems
from simba.scenario.schedule import parse_modules

# Driver, ModuleSpec, ModuleType and Scenario are re-exported for older importers;
# import them from simba.scenario.
__all__ = ["load_scenario", "with_driver"]


def load_scenario(path: str | os.PathLike[str], *, cwd: Path | None = None) -> Scenario:
    """Load and check a scenario; raises :class:`ScenarioError` listing every problem."""
    return _Loader(Path(path), cwd or Path.cwd()).load()


def with_driver(
    scenario: Scenario, changes: Mapping[str, Any], *, file: Path, where: str
) -> Scenario:
    """``scenario`` with some driver settings replaced, checked as the loader checks them.

    The changed driver document is validated like a loaded one; problems are reported
    at ``file`` and the JSON path ``where`` (e.g. a sweep file and its cell), and raised
    as one :class:`ScenarioError`.  The scenario itself is not changed.
    """
    document = read_json(scenario.driver_file)
    if scenario.driver_file == scenario.schedule_file:  # a one-file scenario
        document = document["driver"]
    merged = {**document, **changes}
    problems = Problems()
    problems.extend(schemas.validate("driver", merged, file=str(file), prefix=where))
    problems.raise_if_any()
    driver, timeline = parse_driver(
        problems, file, merged, where, scenario.driver.output_directory.parent
    )
    problems.raise_if_any()
    assert driver is not None and timeline is not None
    return dataclasses.replace(
        scenario,
        driver=dataclasses.replace(driver, output_directory=scenario.driver.output_directory),
        timeline=timeline,
    )


class _Loader:
    """Reads a scenario's files and builds the Scenario, collecting every problem."""

    def __init__(self, path: Path, cwd: Path) -> None:
        self.path = path
        self.cwd = cwd
        self.problems = Problems()

    def load(self) -> Scenario:
        driver_file, schedule_file, driver_doc, schedule_doc, prefix = self._read_files()
        self.problems.raise_if_any()
        assert isinstance(driver_doc, dict) and isinstance(schedule_doc, dict)
        driver_problems = schemas.validate(
            "driver", driver_doc, file=str(driver_file), prefix=prefix
        )
        schedule_problems = schemas.validate("schedule", schedule_doc, file=str(schedule_file))
        self.problems.extend(driver_problems + schedule_problems)
        reported = {p.path for p in driver_problems + schedule_problems}
        for file, where, name in _names(
            driver_file, driver_doc, prefix, schedule_file, schedule_doc
        ):
            if where not in reported and not is_name(name):
                self.problems.add(file, where, f"{name!r}: {NAME_RULE}")
        base_dir = schedule_file.resolve().parent
        modules = parse_modules(
            self.problems,
            schedule_file,
            schedule_doc,
            base_dir,
            {p.path for p in schedule_problems},
        )
        driver, timeline = (
            (None, None)
            if driver_problems
            else parse_driver(self.problems, driver_file, driver_doc, prefix, self.cwd)
        )
        self.problems.raise_if_any()
        assert driver is not None and timeline is not None
        return Scenario(
            driver=driver,
            timeline=timeline,
            modules=tuple(m for m in modules if m.type is not ModuleType.SERVICE),
            services=tuple(m for m in modules if m.type is ModuleType.SERVICE),
            common_data=schedule_doc.get("commonData"),
            source=self.path.resolve(),
            driver_file=driver_file,
            schedule_file=schedule_file,
            fingerprint=_fingerprint((driver_file, schedule_file), modules),
        )

    def _read_files(self) -> tuple[Path, Path, Any, Any, str]:
        """(driver file, schedule file, their documents, the driver's JSON path)."""
        path = self.path
        if path.is_dir():
            driver_file, schedule_file = path / "driver.json", path / "schedule.json"
            return (
                driver_file,
                schedule_file,
                self._read(driver_file),
                self._read(schedule_file),
                "",
            )
        if not path.exists():
            self.problems.add(
                path, "", "no such file or directory; give a scenario directory or file"
            )
            return path, path, None, None, ""
        document = self._read(path)
        if isinstance(document, dict) and "driver" in document:
            schedule_doc = {key: value for key, value in document.items() if key != "driver"}
            driver_doc = document["driver"]
            if not isinstance(driver_doc, dict):
                self.problems.add(path, "driver", "must be an object holding the driver settings")
            return path, path, driver_doc, schedule_doc, "driver"
        sibling = path.with_name("driver.json")
        if sibling.is_file() and sibling != path:
            return sibling, path, self._read(sibling), document, ""
        if isinstance(document, dict):
            self.problems.add(
                path,
                "",
                "found no driver settings: put them under a top-level 'driver' key beside "
                "'schedule', or in a driver.json next to this file",
            )
        return path, path, None, None, ""

    def _read(self, file: Path) -> Any:
        try:
            document = read_json(file)
        except FileNotFoundError:
            self.problems.add(file, "", "this file does not exist")
            return None
        except JSONFileError as exc:
            self.problems.add(file, exc.where, exc.reason)
            return None
        if not isinstance(document, dict):
            self.problems.add(file, "", "the top level must be a JSON object")
            return None
        return document


def _names(
    driver_file: Path, driver: dict[str, Any], prefix: str, schedule_file: Path, schedule: Any
) -> list[tuple[Path, str, str]]:
    """(file, JSON path, name) of each run id, cell id and module name that is a string.

    The schemas check the same rule (:data:`simba.names.NAME_PATTERN`); this also
    catches what a JSON Schema pattern cannot: the length in bytes and a final newline.
    """
    found = [
        (driver_file, f"{prefix}.{key}" if prefix else key, driver[key])
        for key in ("runId", "cellId")
        if isinstance(driver.get(key), str)
    ]
    entries = schedule.get("schedule")
    if isinstance(entries, list):
        found += [
            (schedule_file, f"schedule[{index}].name", entry["name"])
            for index, entry in enumerate(entries)
            if isinstance(entry, dict) and isinstance(entry.get("name"), str)
        ]
    return found


def _fingerprint(files: tuple[Path, Path], modules: list[ModuleSpec]) -> str:
    """sha256 of the scenario files' bytes and of the exact packages the modules run."""
    digest = hashlib.sha256()
    for file in dict.fromkeys(files):
        digest.update(file.read_bytes())
    for module in modules:  # a newly installed version must not join a resumed run
        if module.package is not None:
            package = module.package
            digest.update(f"\0{module.name}={package.ident}:{package.sha256}".encode())
    return digest.hexdigest()
