"""The schedule: each entry of ``schedule.json`` -> a checked, resolved :class:`ModuleSpec`.

The document has passed the ``schedule`` schema; this module checks what a schema cannot
say: unique names and priorities, fields that fit the module's type (call fields versus
service fields), bounds and timeouts, the Parsl settings, and the ``dependsOn`` graph
(every dependency known, not a service, no cycle).  What an entry runs is checked by
:mod:`simba.scenario.programs`.  Each problem is added to the collection it is given.
"""

from __future__ import annotations

import graphlib
import math
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from simba.scenario import containers
from simba.scenario.model import ModuleSpec, ModuleType
from simba.scenario.problems import Problems
from simba.scenario.programs import check_placeholders, entry_argv, find_package
from simba.scenario.timeline import timeout_seconds

if TYPE_CHECKING:
    from simba.scenario.parsl_settings import ExecutorSettings

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


def parse_modules(
    problems: Problems, file: Path, doc: dict[str, Any], base_dir: Path, bad_paths: set[str]
) -> list[ModuleSpec]:
    """The modules and services of a schedule document, in schedule order.

    Entries with a schema problem (a path in ``bad_paths``) are only checked for unique
    names and priorities; ``base_dir`` is the directory of the schedule file.
    """
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
        _check_unique(problems, file, i, entry, names, priorities)
        if any(p == here or p.startswith((here + ".", here + "[")) for p in bad_paths):
            continue
        spec = _module(problems, file, here, entry, i + 1, base_dir)
        if spec is not None:
            modules.append(spec)
    _check_dependencies(problems, file, entries, names)
    return modules


def _check_unique(
    problems: Problems,
    file: Path,
    index: int,
    entry: dict[str, Any],
    names: dict[str, int],
    priorities: dict[float, str],
) -> None:
    """A problem if the entry's name or priority was used before; records both."""
    here = f"schedule[{index}]"
    name = entry.get("name")
    if isinstance(name, str):
        if name in names:
            problems.add(
                file,
                f"{here}.name",
                f"the name {name!r} is also used by schedule[{names[name]}]; "
                "module names must be unique",
            )
        names.setdefault(name, index)
    priority = _priority(entry.get("priority"))
    if priority is not None and isinstance(name, str):
        if priority in priorities:
            problems.add(
                file,
                f"{here}.priority",
                f"priority {entry['priority']} is also given to module "
                f"{priorities[priority]!r}; priorities must be unique",
            )
        priorities.setdefault(priority, name)


def _module(
    problems: Problems, file: Path, here: str, entry: dict[str, Any], index: int, base_dir: Path
) -> ModuleSpec | None:
    """The spec of one schema-valid entry, or None after a problem."""
    count = len(problems)
    name = entry["name"]
    module_type = ModuleType(entry.get("type", ModuleType.LOCAL.value))
    service_timing = _service_fields(problems, file, here, entry, module_type)
    parsl = _parsl(problems, file, here, entry) if module_type is ModuleType.PARSL else None
    if entry.get("protocol", "file") != "file" and module_type is not ModuleType.RESIDENT:
        problems.add(
            file,
            f"{here}.protocol",
            f"module {name!r} has protocol {entry['protocol']!r}, which only a module of type "
            "'resident' speaks; make it 'type': 'resident' or remove 'protocol'",
        )
    package = find_package(problems, file, here, entry) if "package" in entry else None
    if "command" in entry and "package" in entry:
        problems.add(
            file,
            here,
            f"module {name!r} has both 'command' and 'package'; keep one (a package's "
            "descriptor says which program to run)",
        )
    elif "command" not in entry and "package" not in entry:
        problems.add(
            file,
            here,
            f"module {name!r} has no 'command'; say which program to run, or name an "
            "installed package with 'package'",
        )
        return None
    check_placeholders(problems, file, here, entry, with_package="package" in entry)
    cwd = _working_directory(problems, file, here, entry, base_dir)
    argv = entry_argv(problems, file, here, entry, base_dir, package)
    timeout = _bounds_and_timeout(problems, file, here, entry)
    container = containers.parse(problems, file, here, entry, base_dir, package)
    if len(problems) > count or argv is None:
        return None
    priority = _priority(entry["priority"])
    assert priority is not None
    start_tick, end_tick = entry.get("startTick"), entry.get("endTick")
    depends = entry.get("dependsOn")
    return ModuleSpec(
        name=name,
        index=index,
        type=module_type,
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
        timeout=timeout,
        retries=int(entry.get("retries", 0)),
        working_directory=cwd,
        package=package,
        parsl=parsl,
        container=container,
        protocol=str(entry.get("protocol", "file")),  # scale: the inline line protocol
        **service_timing,
    )


def _working_directory(
    problems: Problems, file: Path, here: str, entry: dict[str, Any], base_dir: Path
) -> Path:
    """``workingDirectory`` relative to the schedule's directory (default: that directory)."""
    if "workingDirectory" not in entry:
        return base_dir
    cwd: Path = (base_dir / entry["workingDirectory"]).resolve()
    if not cwd.is_dir():
        problems.add(file, f"{here}.workingDirectory", f"{cwd} is not an existing directory")
    return cwd


def _bounds_and_timeout(
    problems: Problems, file: Path, here: str, entry: dict[str, Any]
) -> float | None:
    """The timeout in seconds; problems for bounds that never step and bad timeouts."""
    start, end = entry.get("startTick"), entry.get("endTick")
    if start == "Infinity" or end == "-Infinity":
        problems.add(
            file,
            here,
            "this bound means the module never steps; to call it at start and end only, "
            "write tickIncrement 0",
        )
    elif isinstance(start, int | float) and isinstance(end, int | float) and end < start:
        problems.add(
            file,
            f"{here}.endTick",
            f"endTick {end} is before startTick {start}, so the module would never step; "
            "swap them, or write tickIncrement 0 to call it at start and end only",
        )
    return _seconds(problems, file, f"{here}.timeout", entry.get("timeout"))


def _seconds(problems: Problems, file: Path, where: str, value: object) -> float | None:
    """A length of time SIMBA can wait for, in seconds; None (and a problem) if it is not."""
    if value is None:
        return None
    try:
        return timeout_seconds(value)
    except ValueError as exc:
        if isinstance(value, str) or (isinstance(value, (int, float)) and value > 0):
            problems.add(file, where, str(exc))  # the schema reports the other values
        return None


def _parsl(
    problems: Problems, file: Path, here: str, entry: dict[str, Any]
) -> ExecutorSettings | None:
    """The executor of a ``type: parsl`` module; a problem if Parsl is not installed."""
    from simba.scenario.parsl_settings import INSTALL_PARSL, parse_settings, parsl_installed

    if not parsl_installed():
        problems.add(
            file,
            f"{here}.type",
            "type 'parsl' needs Parsl, which is not installed; install it with: " + INSTALL_PARSL,
        )
        return None
    settings, found = parse_settings(entry)
    for key, message in found:
        problems.add(file, f"{here}.{key}", message)
    return settings


def _service_fields(
    problems: Problems, file: Path, here: str, entry: dict[str, Any], module_type: ModuleType
) -> dict[str, float]:
    """``ready_timeout`` / ``stats_interval`` of a service; a problem for misplaced fields."""
    if module_type is not ModuleType.SERVICE:
        for key in _SERVICE_FIELDS:
            if key in entry:
                problems.add(
                    file,
                    f"{here}.{key}",
                    f"{key} applies to type 'service' only; remove it or set type to 'service'",
                )
        return {}
    for key in _CALL_FIELDS:
        if key in entry:
            problems.add(
                file,
                f"{here}.{key}",
                f"a service is not called, so {key} does not apply to it; remove it "
                "(services run from before the first start call to after the last end call)",
            )
    timing: dict[str, float] = {}
    for key, attribute, least in (
        ("readyTimeout", "ready_timeout", None),
        ("statsInterval", "stats_interval", MIN_STATS_INTERVAL),
    ):
        seconds = _seconds(problems, file, f"{here}.{key}", entry.get(key))
        if seconds is None:
            continue
        if least is not None and seconds < least:
            problems.add(
                file, f"{here}.{key}", f"{key} must be at least {least:g} s, not {seconds:g} s"
            )
            continue
        timing[attribute] = seconds
    return timing


def _check_dependencies(
    problems: Problems, file: Path, entries: list[Any], names: dict[str, int]
) -> None:
    """Problems for unknown dependencies, dependencies on services, and a cycle."""
    edges: list[tuple[str, str]] = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("dependsOn"), list):
            continue
        name = entry.get("name")
        for j, dependency in enumerate(entry["dependsOn"]):
            if not isinstance(dependency, str) or not isinstance(name, str):
                continue
            if dependency not in names:
                problems.add(
                    file,
                    f"schedule[{i}].dependsOn[{j}]",
                    f"module {name!r} depends on {dependency!r}, which is not in the schedule",
                )
            elif _is_service(entries[names[dependency]]):
                problems.add(
                    file,
                    f"schedule[{i}].dependsOn[{j}]",
                    f"module {name!r} depends on {dependency!r}, which is a service: it "
                    "runs for the whole run and is ready before any call; remove it here",
                )
            else:
                edges.append((dependency, name))
    cycle = find_cycle(edges)
    if cycle:
        problems.add(
            file,
            f"schedule[{names[cycle[0]]}].dependsOn",
            "the dependencies form a cycle: "
            + " -> ".join([*cycle, cycle[0]])
            + "; remove one of these dependsOn entries",
        )


def find_cycle(edges: Iterable[tuple[str, str]]) -> list[str]:
    """The nodes of one cycle in the graph of ``edges`` (each before its successor), or ``[]``.

    Nodes are searched in the order the edges first name them.
    """
    sorter: graphlib.TopologicalSorter[str] = graphlib.TopologicalSorter()
    for before, after in edges:
        sorter.add(before)
        sorter.add(after, before)
    try:
        sorter.prepare()
    except graphlib.CycleError as exc:
        return list(exc.args[1][:-1])
    return []


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
