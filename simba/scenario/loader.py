"""Loading a scenario: files -> schema validation -> semantic checks -> frozen objects.

A scenario is a directory (or its ``schedule.json``) with ``driver.json`` and
``schedule.json``, or one file with ``"driver"`` beside ``"schedule"`` (DESIGN §2).
Every problem is collected and raised once as :class:`~simba.errors.ScenarioError`;
nothing is written anywhere.  After loading, nothing downstream reads raw dicts except
the opaque payloads ``commonData`` and ``moduleData``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import os
import shlex
import shutil
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from simba import placeholders, schemas
from simba.errors import Problem, ScenarioError
from simba.jsonfile import JSONFileError, read_json
from simba.scenario.timeline import Interval, Timeline, parse_duration, parse_time

if TYPE_CHECKING:
    from simba.packages.store import InstalledPackage
    from simba.scenario.parsl_settings import ExecutorSettings

#: Characters that make a command string need ``/bin/sh``.
_SHELL_SYNTAX = frozenset("|&;<>()$`*?[]~\n")

#: Module types this version can run, and what to say about the others.
_UNAVAILABLE_TYPES: dict[str, str] = {}

#: Defaults of a service's ``readyTimeout`` and ``statsInterval`` (the Station module interface).
READY_TIMEOUT = 0.5
STATS_INTERVAL = 1.0
#: The shortest ``statsInterval``: polling faster would only load the service.
MIN_STATS_INTERVAL = 0.1
#: Schedule fields that only make sense for a module that is called; a service is not.
_CALL_FIELDS = (
    "startTick",
    "endTick",
    "tickIncrement",
    "dependsOn",
    "updateCommonData",
    "storeFront",
    "moduleData",
    "timeout",
    "retries",
)
#: Schedule fields that only a service has.
_SERVICE_FIELDS = ("readyTimeout", "statsInterval")


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
    ready_timeout: float = READY_TIMEOUT
    """Type ``service``: seconds within which the process must print ``API: <url>``."""
    stats_interval: float = STATS_INTERVAL
    """Type ``service``: seconds between two polls of its API for ``jobsCompleted``."""
    package: InstalledPackage | None = None
    """The installed package the module runs from (a schedule entry with ``package``)."""
    parsl: ExecutorSettings | None = None
    """Type ``parsl``: the executor (with its provider and launcher) that runs the calls."""

    @property
    def uses_module_dirs(self) -> bool:
        """Whether the arguments or env name one of the module's own directories."""
        texts = (*self.argv[1:], *self.env.values())
        return any(
            name in placeholders.MODULE_DIR_NAMES
            for text in texts
            for name in placeholders.names(text)
        )

    def with_placeholders(self, values: Mapping[str, str]) -> ModuleSpec:
        """A copy with the placeholders of its arguments and env filled in from ``values``.

        The program (``argv[0]``) was resolved by the loader.  In the script of
        ``/bin/sh -c`` each value is shell-quoted, so paths with spaces stay one word.
        """
        shell = self.argv[:2] == ("/bin/sh", "-c")
        argv = (
            self.argv[0],
            *(
                placeholders.expand(arg, values, quote=shell and i == 2)
                for i, arg in enumerate(self.argv[1:], start=1)
            ),
        )
        env = {key: placeholders.expand(value, values) for key, value in self.env.items()}
        return dataclasses.replace(self, argv=argv, env=env)


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
    output_directory_given: bool = True
    """Whether the scenario names ``outputDirectory`` (else ``output_directory`` is ./runs)."""


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
    services: tuple[ModuleSpec, ...] = ()
    """The ``service`` modules, in schedule order; they are hosted, never called, so they
    are not in ``modules``."""

    @property
    def dependency_mode(self) -> bool:
        """Whether any module has the ``dependsOn`` key (DESIGN §4)."""
        return any(module.depends_on is not None for module in self.modules)

    def module(self, name: str) -> ModuleSpec:
        for module in self.modules:
            if module.name == name:
                return module
        raise KeyError(name)

    def with_placeholders(self, values: Callable[[ModuleSpec], Mapping[str, str]]) -> Scenario:
        """A copy whose modules and services have their placeholders filled in (run start)."""
        return dataclasses.replace(
            self,
            modules=tuple(m.with_placeholders(values(m)) for m in self.modules),
            services=tuple(m.with_placeholders(values(m)) for m in self.services),
        )

    @property
    def modules_with_dirs(self) -> tuple[str, ...]:
        """Names of the modules and services whose command or env name their own directories."""
        return tuple(m.name for m in (*self.modules, *self.services) if m.uses_module_dirs)


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
    loader = _Loader(scenario.source, scenario.driver.output_directory.parent)
    loader.problems += schemas.validate("driver", merged, file=str(file), prefix=where)
    loader.fail_if_problems()
    driver, timeline = loader._driver(file, merged, where)
    loader.fail_if_problems()
    assert driver is not None and timeline is not None
    return dataclasses.replace(
        scenario,
        driver=dataclasses.replace(driver, output_directory=scenario.driver.output_directory),
        timeline=timeline,
    )


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
        for module in modules:  # a newly installed version must not join a resumed run
            if module.package is not None:
                package = module.package
                digest.update(f"\0{module.name}={package.ident}:{package.sha256}".encode())
        return Scenario(
            driver=driver,
            timeline=timeline,
            modules=tuple(m for m in modules if m.type is not ModuleType.SERVICE),
            services=tuple(m for m in modules if m.type is ModuleType.SERVICE),
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
            output_directory_given="outputDirectory" in doc,
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
        service_timing = self._service_fields(file, here, entry, module_type)
        parsl = self._parsl(file, here, entry) if module_type == ModuleType.PARSL.value else None
        package = self._package(file, here, entry) if "package" in entry else None
        if "command" in entry and "package" in entry:
            self.problem(
                file,
                here,
                f"module {name!r} has both 'command' and 'package'; keep one (a package's "
                "descriptor says which program to run)",
            )
        elif "command" not in entry and "package" not in entry:
            self.problem(
                file,
                here,
                f"module {name!r} has no 'command'; say which program to run, or name an "
                "installed package with 'package'",
            )
            return None
        self._check_placeholders(file, here, entry, with_package="package" in entry)
        cwd = base_dir
        if "workingDirectory" in entry:
            cwd = (base_dir / entry["workingDirectory"]).resolve()
            if not cwd.is_dir():
                self.problem(
                    file, f"{here}.workingDirectory", f"{cwd} is not an existing directory"
                )
        if "command" in entry:
            argv = self._command(file, f"{here}.command", entry["command"], base_dir)
        elif package is not None:
            argv = self._command(
                package.directory / "descriptor.json",
                "command",
                package.descriptor.command,
                package.directory,
                package_dir=package.directory,
            )
        else:
            argv = None
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
            package=package,
            parsl=parsl,
            **service_timing,
        )

    def _parsl(self, file: Path, here: str, entry: dict[str, Any]) -> ExecutorSettings | None:
        """The executor of a ``type: parsl`` module; a problem if Parsl is not installed."""
        from simba.scenario.parsl_settings import INSTALL_PARSL, parse_settings, parsl_installed

        if not parsl_installed():
            self.problem(
                file,
                f"{here}.type",
                "type 'parsl' needs Parsl, which is not installed; install it with: "
                + INSTALL_PARSL,
            )
            return None
        settings, problems = parse_settings(entry)
        for key, message in problems:
            self.problem(file, f"{here}.{key}", message)
        return settings

    def _package(self, file: Path, here: str, entry: dict[str, Any]) -> InstalledPackage | None:
        """The installed package an entry names; its moduleData and requires checked."""
        from simba.packages.store import PackageError, PackageRef, resolve
        from simba.packages.versions import Version

        try:
            package = resolve(PackageRef.parse(entry["package"]))
        except PackageError as exc:
            self.problem(file, f"{here}.package", str(exc))
            return None
        descriptor = package.descriptor
        what = f"module {entry['name']!r} ({descriptor.ident})"
        if descriptor.module_data_schema is not None:
            for problem in schemas.validate_against(
                descriptor.module_data_schema,
                entry.get("moduleData", {}),
                file=str(file),
                prefix=f"{here}.moduleData",
            ):
                self.problem(
                    file,
                    problem.path,
                    f"{what}: {problem.message} (the package's moduleDataSchema)",
                )
        wanted = descriptor.requires_python
        python = Version(*sys.version_info[:3])
        if wanted is not None and not wanted.contains(python):
            self.problem(
                file,
                f"{here}.package",
                f"{what} needs Python {wanted}, but SIMBA runs on Python {python} "
                f"({sys.executable}); run SIMBA with a matching Python",
            )
        path = entry.get("env", {}).get("PATH", os.environ.get("PATH"))
        for program in descriptor.requires_executables:
            try:
                found = shutil.which(program, path=path)
            except ValueError:  # a NUL byte in PATH
                found = None
            if found is None:
                self.problem(
                    file,
                    f"{here}.package",
                    f"{what} needs the program {program!r}, which is not on PATH; install it "
                    "or add its directory to PATH",
                )
        return package

    def _check_placeholders(
        self, file: Path, here: str, entry: dict[str, Any], *, with_package: bool
    ) -> None:
        """A problem for each placeholder in ``command`` or ``env`` that is not known here."""
        allowed = set(placeholders.NAMES) - (set() if with_package else {"packageDir"})
        command = entry.get("command", [])
        texts = (
            [(f"{here}.command", command)]
            if isinstance(command, str)
            else [(f"{here}.command[{i}]", item) for i, item in enumerate(command)]
        )
        texts += [(f"{here}.env.{key}", value) for key, value in entry.get("env", {}).items()]
        for where, text in texts:
            for name in dict.fromkeys(placeholders.names(text)):
                if name not in allowed:
                    self.problem(file, where, placeholders.describe_unknown(name, allowed))

    def _service_fields(
        self, file: Path, here: str, entry: dict[str, Any], module_type: str
    ) -> dict[str, float]:
        """``ready_timeout`` / ``stats_interval`` of a service; a problem for misplaced fields."""
        timing: dict[str, float] = {}
        if module_type != ModuleType.SERVICE.value:
            for key in _SERVICE_FIELDS:
                if key in entry:
                    self.problem(
                        file,
                        f"{here}.{key}",
                        f"{key} applies to type 'service' only; remove it or set type to 'service'",
                    )
            return timing
        for key in _CALL_FIELDS:
            if key in entry:
                self.problem(
                    file,
                    f"{here}.{key}",
                    f"a service is not called, so {key} does not apply to it; remove it "
                    "(services run from before the first start call to after the last end call)",
                )
        for key, attribute, least in (
            ("readyTimeout", "ready_timeout", None),
            ("statsInterval", "stats_interval", MIN_STATS_INTERVAL),
        ):
            value = entry.get(key)
            if value is None:
                continue
            if isinstance(value, str):
                try:
                    value = parse_duration(value).total_seconds()
                except ValueError as exc:
                    self.problem(file, f"{here}.{key}", str(exc))
                    continue
            seconds = float(value)
            if seconds <= 0 or (least is not None and seconds < least):
                limit = "longer than zero" if least is None else f"at least {least:g} s"
                self.problem(file, f"{here}.{key}", f"{key} must be {limit}, not {seconds:g} s")
                continue
            timing[attribute] = seconds
        return timing

    def _command(
        self,
        file: Path,
        where: str,
        command: str | Sequence[str],
        base_dir: Path,
        *,
        package_dir: Path | None = None,
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
                # The config path is the shell's $1: a command that names $1 or $@ places
                # it itself (./model "$1" | tee log); otherwise it goes at the end.
                script = command if ("$1" in command or "$@" in command) else command + ' "$@"'
                return ("/bin/sh", "-c", script, "sh")
        else:
            argv = list(command)
        # The program must exist before the run starts, so its placeholders are filled in now.
        if placeholders.RUN_NAMES.intersection(placeholders.names(argv[0])):
            self.problem(
                file,
                where,
                f"the program {argv[0]!r} lies in the run directory, which does not exist "
                "before the run; run it from elsewhere (placeholders of the run directory "
                "may be used in the arguments and env)",
            )
            return None
        values = {"python": sys.executable}
        if package_dir is not None:
            values["packageDir"] = str(package_dir)
        try:
            first = placeholders.expand(argv[0], values)
        except KeyError:
            return None  # an unknown placeholder, reported by _check_placeholders
        program = self._program(file, where, first, base_dir)
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
                elif _is_service(entries[names[dependency]]):
                    self.problem(
                        file,
                        f"schedule[{i}].dependsOn[{j}]",
                        f"module {name!r} depends on {dependency!r}, which is a service: it "
                        "runs for the whole run and is ready before any call; remove it here",
                    )
                else:
                    edges.append((dependency, name))
        if not edges:
            return
        from simba.plan import find_cycle

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


def _is_service(entry: Any) -> bool:
    return isinstance(entry, dict) and entry.get("type") == ModuleType.SERVICE.value


def _priority(value: Any) -> float | None:
    if value == "Infinity":
        return math.inf
    if value == "-Infinity":
        return -math.inf
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None
