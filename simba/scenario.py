"""Loading a scenario: files -> schema validation -> semantic checks -> frozen objects.

A scenario is a directory (or its ``schedule.json``) with ``driver.json`` and
``schedule.json``, or one file with ``"driver"`` beside ``"schedule"`` (DESIGN §2).
Every problem is collected and raised once as :class:`~simba.errors.ScenarioError`;
nothing is written anywhere.  After loading, nothing downstream reads raw dicts except
the opaque payloads ``commonData`` and ``moduleData``.
"""

from __future__ import annotations

import hashlib
import math
import os
import shlex
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any

from . import schemas
from .errors import Problem, ScenarioError
from .jsonfile import JSONFileError, read_json
from .timeline import Interval, Timeline, parse_duration, parse_time

#: Characters that make a command string need ``/bin/sh``.
_SHELL_SYNTAX = frozenset("|&;<>()$`*?[]~\n")

#: Module types this version can run, and what to say about the others.
_UNAVAILABLE_TYPES = {
    "parsl": "needs SIMBA's Parsl runner, which this version does not include yet; "
    "use type 'local' meanwhile",
    "service": "is not supported by this version yet",
}


class ModuleType(str, Enum):
    LOCAL = "local"
    PARSL = "parsl"
    RESIDENT = "resident"
    SERVICE = "service"


@dataclass(frozen=True, slots=True, kw_only=True)
class ModuleSpec:
    """One schedule entry, checked and resolved."""

    name: str
    index: int
    type: ModuleType
    argv: tuple[str, ...]
    """The program (absolute path) and its arguments, or ``/bin/sh -c <command>``."""
    priority: float
    start_tick: int | None
    end_tick: int | None
    tick_increment: int
    depends_on: tuple[str, ...] | None
    """``None`` when the key is absent; ``()`` when it says "depends on nothing"."""
    update_common_data: bool
    store_front: bool
    module_data: Mapping[str, Any] | None
    env: Mapping[str, str]
    timeout: float | None
    retries: int
    working_directory: Path


@dataclass(frozen=True, slots=True, kw_only=True)
class Driver:
    """The driver section: clock and output location."""

    initial_time: datetime
    end_time: datetime
    initial_tick: int
    intervals: tuple[Interval, ...]
    continue_from_tick: int | None
    output_directory: Path
    run_id: str | None
    cell_id: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Scenario:
    """A loaded scenario: everything a run needs, immutable."""

    driver: Driver
    timeline: Timeline
    modules: tuple[ModuleSpec, ...]
    common_data: Mapping[str, Any] | None
    source: Path
    """The path the scenario was loaded from (absolute)."""
    driver_file: Path
    schedule_file: Path
    fingerprint: str
    """sha256 of the scenario files' bytes: a resumed run must see the same scenario."""

    @property
    def dependency_mode(self) -> bool:
        """Whether any module has the ``dependsOn`` key (DESIGN §4)."""
        return any(module.depends_on is not None for module in self.modules)

    def module(self, name: str) -> ModuleSpec:
        for module in self.modules:
            if module.name == name:
                return module
        raise KeyError(name)


def load_scenario(path: str | os.PathLike[str], *, cwd: Path | None = None) -> Scenario:
    """Load and check a scenario; raises :class:`ScenarioError` listing every problem."""
    return _Loader(Path(path), cwd or Path.cwd()).load()


class _Loader:
    def __init__(self, path: Path, cwd: Path) -> None:
        self.path = path
        self.cwd = cwd
        self.problems: list[Problem] = []

    def problem(self, file: Path | str, where: str, message: str) -> None:
        self.problems.append(Problem(str(file), where, message))

    def fail_if_problems(self) -> None:
        if self.problems:
            raise ScenarioError(self.problems)

    # -- files ------------------------------------------------------------------------

    def load(self) -> Scenario:
        driver_file, schedule_file, driver_doc, schedule_doc, prefix = self._read_files()
        self.fail_if_problems()
        assert isinstance(driver_doc, dict) and isinstance(schedule_doc, dict)
        driver_problems = schemas.validate(
            "driver", driver_doc, file=str(driver_file), prefix=prefix
        )
        schedule_problems = schemas.validate("schedule", schedule_doc, file=str(schedule_file))
        self.problems += driver_problems + schedule_problems
        base_dir = schedule_file.resolve().parent
        modules = self._modules(
            schedule_file, schedule_doc, base_dir, {p.path for p in schedule_problems}
        )
        driver, timeline = (
            (None, None) if driver_problems else self._driver(driver_file, driver_doc, prefix)
        )
        self.fail_if_problems()
        assert driver is not None and timeline is not None
        common = schedule_doc.get("commonData")
        digest = hashlib.sha256()
        for file in dict.fromkeys((driver_file, schedule_file)):
            digest.update(file.read_bytes())
        return Scenario(
            driver=driver,
            timeline=timeline,
            modules=tuple(modules),
            common_data=common,
            source=self.path.resolve(),
            driver_file=driver_file,
            schedule_file=schedule_file,
            fingerprint=digest.hexdigest(),
        )

    def _read_files(self) -> tuple[Path, Path, Any, Any, str]:
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
            self.problem(path, "", "no such file or directory; give a scenario directory or file")
            return path, path, None, None, ""
        document = self._read(path)
        if isinstance(document, dict) and "driver" in document:
            schedule_doc = {key: value for key, value in document.items() if key != "driver"}
            driver_doc = document["driver"]
            if not isinstance(driver_doc, dict):
                self.problem(path, "driver", "must be an object holding the driver settings")
            return path, path, driver_doc, schedule_doc, "driver"
        sibling = path.with_name("driver.json")
        if sibling.is_file() and sibling != path:
            return sibling, path, self._read(sibling), document, ""
        if isinstance(document, dict):
            self.problem(
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
            self.problem(file, "", "this file does not exist")
            return None
        except JSONFileError as exc:
            self.problem(file, "", str(exc))
            return None
        if not isinstance(document, dict):
            self.problem(file, "", "the top level must be a JSON object")
            return None
        return document

    # -- driver -------------------------------------------------------------------------

    def _driver(
        self, file: Path, doc: dict[str, Any], prefix: str
    ) -> tuple[Driver | None, Timeline | None]:
        def at(key: str) -> str:
            return f"{prefix}.{key}" if prefix else key

        count = len(self.problems)
        initial_time = self._time(file, at("initialTime"), doc["initialTime"])
        end_time = self._end_time(file, at("endTime"), doc["endTime"], initial_time)
        if initial_time is not None and end_time is not None:
            if (initial_time.tzinfo is None) != (end_time.tzinfo is None):
                self.problem(
                    file,
                    at("endTime"),
                    "initialTime and endTime must both have a time zone or both have none",
                )
            elif end_time < initial_time:
                self.problem(
                    file,
                    at("endTime"),
                    f"endTime {end_time.isoformat()} is before initialTime "
                    f"{initial_time.isoformat()}",
                )
        initial_tick = int(doc.get("initialTick", 0))
        intervals = self._intervals(
            file, at("scheduleIntervals"), doc["scheduleIntervals"], initial_tick
        )
        if len(self.problems) > count or initial_time is None or end_time is None:
            return None, None
        try:
            timeline = Timeline(
                initial_tick=initial_tick,
                initial_time=initial_time,
                intervals=intervals,
                end_time=end_time,
            )
        except (ValueError, OverflowError) as exc:
            self.problem(file, at("scheduleIntervals"), str(exc))
            return None, None
        output = Path(doc.get("outputDirectory", "runs"))
        driver = Driver(
            initial_time=initial_time,
            end_time=end_time,
            initial_tick=initial_tick,
            intervals=intervals,
            continue_from_tick=doc.get("continueFromTick"),
            output_directory=output if output.is_absolute() else self.cwd / output,
            run_id=doc.get("runId"),
            cell_id=doc.get("cellId"),
        )
        cont = driver.continue_from_tick
        if cont is not None and not initial_tick <= cont <= timeline.final_tick:
            self.problem(
                file,
                at("continueFromTick"),
                f"must lie between initialTick {initial_tick} and the final tick "
                f"{timeline.final_tick}, not {cont}",
            )
            return None, None
        return driver, timeline

    def _time(self, file: Path, where: str, text: str) -> datetime | None:
        try:
            return parse_time(text)
        except ValueError as exc:
            self.problem(file, where, str(exc))
            return None

    def _end_time(
        self, file: Path, where: str, text: str, initial_time: datetime | None
    ) -> datetime | None:
        if text.startswith("P"):
            try:
                duration = parse_duration(text)
            except ValueError as exc:
                self.problem(file, where, str(exc))
                return None
            if initial_time is None:
                return None
            try:
                return initial_time + duration.times(1)
            except (OverflowError, ValueError):
                self.problem(file, where, f"initialTime plus {text} lies past the year 9999")
                return None
        return self._time(file, where, text)

    def _intervals(
        self, file: Path, where: str, docs: list[dict[str, Any]], initial_tick: int
    ) -> tuple[Interval, ...]:
        intervals: list[Interval] = []
        expected_start = initial_tick
        for i, doc in enumerate(docs):
            here = f"{where}[{i}]"
            start = doc.get("startTick", expected_start)
            if start != expected_start:
                what = (
                    "the first interval must start at initialTick"
                    if i == 0
                    else "each interval must start right after the previous endTick"
                )
                kind = "a gap" if start > expected_start else "an overlap"
                self.problem(
                    file,
                    f"{here}.startTick",
                    f"startTick {start} leaves {kind}: {what} ({expected_start})",
                )
            end = doc.get("endTick", "Infinity")
            end_tick = None if end == "Infinity" else int(end)
            if end_tick is None and i != len(docs) - 1:
                self.problem(
                    file,
                    f"{here}.endTick",
                    "only the last interval may be unbounded; give this one an endTick",
                )
            if end_tick is not None and end_tick < expected_start:
                self.problem(
                    file,
                    f"{here}.endTick",
                    f"endTick {end_tick} is before the interval's first tick {expected_start}",
                )
            try:
                duration = parse_duration(doc["tickDuration"])
            except ValueError as exc:
                self.problem(file, f"{here}.tickDuration", str(exc))
                continue
            if not duration.is_positive:
                self.problem(file, f"{here}.tickDuration", "a tick must last longer than zero")
            intervals.append(
                Interval(
                    start_tick=expected_start,
                    end_tick=end_tick,
                    tick_duration=duration,
                    duration_text=doc["tickDuration"],
                )
            )
            expected_start = (end_tick if end_tick is not None else expected_start) + 1
        return tuple(intervals)

    # -- schedule -----------------------------------------------------------------------

    def _modules(
        self, file: Path, doc: dict[str, Any], base_dir: Path, bad_paths: set[str]
    ) -> list[ModuleSpec]:
        entries = doc.get("schedule")
        if not isinstance(entries, list):
            return []
        modules: list[ModuleSpec] = []
        names: dict[str, int] = {}
        priorities: dict[float, str] = {}
        for i, entry in enumerate(entries):
            here = f"schedule[{i}]"
            if not isinstance(entry, dict):
                continue
            name = entry.get("name")
            if isinstance(name, str):
                if name in names:
                    self.problem(
                        file,
                        f"{here}.name",
                        f"the name {name!r} is also used by schedule[{names[name]}]; "
                        "module names must be unique",
                    )
                names.setdefault(name, i)
            priority = _priority(entry.get("priority"))
            if priority is not None and isinstance(name, str):
                if priority in priorities:
                    self.problem(
                        file,
                        f"{here}.priority",
                        f"priority {entry['priority']} is also given to module "
                        f"{priorities[priority]!r}; priorities must be unique",
                    )
                priorities.setdefault(priority, name)
            if any(p == here or p.startswith((here + ".", here + "[")) for p in bad_paths):
                continue
            spec = self._module(file, here, entry, i + 1, base_dir)
            if spec is not None:
                modules.append(spec)
        self._check_dependencies(file, entries, names)
        return modules

    def _module(
        self, file: Path, here: str, entry: dict[str, Any], index: int, base_dir: Path
    ) -> ModuleSpec | None:
        count = len(self.problems)
        name = entry["name"]
        module_type = entry.get("type", "local")
        if module_type in _UNAVAILABLE_TYPES:
            self.problem(
                file, f"{here}.type", f"type {module_type!r} {_UNAVAILABLE_TYPES[module_type]}"
            )
        if "command" not in entry:
            self.problem(file, here, f"module {name!r} has no 'command'; say which program to run")
            return None
        cwd = base_dir
        if "workingDirectory" in entry:
            cwd = (base_dir / entry["workingDirectory"]).resolve()
            if not cwd.is_dir():
                self.problem(
                    file, f"{here}.workingDirectory", f"{cwd} is not an existing directory"
                )
        argv = self._command(file, f"{here}.command", entry["command"], base_dir)
        start_tick, end_tick = entry.get("startTick"), entry.get("endTick")
        if start_tick == "Infinity" or end_tick == "-Infinity":
            self.problem(
                file,
                here,
                "this bound means the module never steps; to call it at start and end only, "
                "write tickIncrement 0",
            )
        timeout = entry.get("timeout")
        if isinstance(timeout, str):
            try:
                timeout = parse_duration(timeout).total_seconds()
            except ValueError as exc:
                self.problem(file, f"{here}.timeout", str(exc))
            else:
                if timeout <= 0:
                    self.problem(file, f"{here}.timeout", "a timeout must be longer than zero")
        if len(self.problems) > count or argv is None:
            return None
        priority = _priority(entry["priority"])
        assert priority is not None
        depends = entry.get("dependsOn")
        return ModuleSpec(
            name=name,
            index=index,
            type=ModuleType(module_type),
            argv=argv,
            priority=priority,
            start_tick=None if start_tick in (None, "-Infinity") else int(start_tick),
            end_tick=None if end_tick in (None, "Infinity") else int(end_tick),
            tick_increment=int(entry.get("tickIncrement", 1)),
            depends_on=None if depends is None else tuple(depends),
            update_common_data=bool(entry.get("updateCommonData", False)),
            store_front=bool(entry.get("storeFront", False)),
            module_data=entry.get("moduleData"),
            env=dict(entry.get("env", {})),
            timeout=None if timeout is None else float(timeout),
            retries=int(entry.get("retries", 0)),
            working_directory=cwd,
        )

    def _command(
        self, file: Path, where: str, command: str | list[str], base_dir: Path
    ) -> tuple[str, ...] | None:
        if isinstance(command, str):
            needs_shell = bool(_SHELL_SYNTAX.intersection(command))
            if not needs_shell:
                try:
                    argv = shlex.split(command)
                except ValueError as exc:
                    self.problem(file, where, f"cannot split the command: {exc}")
                    return None
                needs_shell = not argv or "=" in argv[0]
            if needs_shell:
                # "$@" carries the config path, so the command may use it anywhere.
                return ("/bin/sh", "-c", command + ' "$@"', "sh")
        else:
            argv = list(command)
        program = self._program(file, where, argv[0], base_dir)
        return None if program is None else (program, *argv[1:])

    def _program(self, file: Path, where: str, program: str, base_dir: Path) -> str | None:
        # A bare name is a file in the scenario directory if one is there (as in the
        # reference driver), else a program on PATH.
        if "/" not in program and not (base_dir / program).is_file():
            found = shutil.which(program)
            if found is None:
                self.problem(
                    file,
                    where,
                    f"the program {program!r} is not on PATH; install it or give its path",
                )
            return found
        path = Path(program).expanduser()
        path = path if path.is_absolute() else base_dir / path
        if not path.exists():
            self.problem(file, where, f"the program {path} does not exist")
            return None
        if not path.is_file():
            self.problem(file, where, f"the program {path} is not a file")
            return None
        if not os.access(path, os.X_OK):
            self.problem(
                file,
                where,
                f"the program {path} is not executable; run 'chmod +x {path}' or name its "
                f'interpreter in the command (e.g. "python3 {program}")',
            )
            return None
        return str(path)

    def _check_dependencies(self, file: Path, entries: list[Any], names: dict[str, int]) -> None:
        edges: list[tuple[str, str]] = []
        for i, entry in enumerate(entries):
            if not isinstance(entry, dict) or not isinstance(entry.get("dependsOn"), list):
                continue
            name = entry.get("name")
            for j, dependency in enumerate(entry["dependsOn"]):
                if not isinstance(dependency, str) or not isinstance(name, str):
                    continue
                if dependency not in names:
                    self.problem(
                        file,
                        f"schedule[{i}].dependsOn[{j}]",
                        f"module {name!r} depends on {dependency!r}, which is not in the schedule",
                    )
                else:
                    edges.append((dependency, name))
        if not edges:
            return
        from .plan import find_cycle

        cycle = find_cycle(edges)
        if cycle:
            first = names[cycle[0]]
            self.problem(
                file,
                f"schedule[{first}].dependsOn",
                "the dependencies form a cycle: "
                + " -> ".join([*cycle, cycle[0]])
                + "; remove one of these dependsOn entries",
            )


def _priority(value: Any) -> float | None:
    if value == "Infinity":
        return math.inf
    if value == "-Infinity":
        return -math.inf
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None
