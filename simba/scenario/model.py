"""The scenario as objects: module types, schedule entries, the driver section, the scenario.

Everything here is frozen; :mod:`simba.scenario.loader` builds it from the files, and a
run derives changed copies (placeholders filled in) with :func:`dataclasses.replace`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from simba import placeholders
from simba.containers.spec import Container
from simba.errors import Problem
from simba.scenario.timeline import Interval, Timeline

if TYPE_CHECKING:
    from simba.packages.store import InstalledPackage
    from simba.scenario.parsl_settings import ExecutorSettings

#: Defaults of a service's ``readyTimeout`` and ``statsInterval`` (the Station module interface).
READY_TIMEOUT = 0.5
STATS_INTERVAL = 1.0


class ModuleType(str, Enum):
    """How a module is run: a local process per call, a Parsl app, a resident process, or a
    service hosted for the whole run."""

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
    ready_timeout: float | None = None
    """Type ``service``: seconds within which the process must print ``API: <url>``;
    ``None`` (not set): a line later than :data:`READY_TIMEOUT` is only a warning."""
    stats_interval: float = STATS_INTERVAL
    """Type ``service``: seconds between two polls of its API for ``jobsCompleted``."""
    package: InstalledPackage | None = None
    """The installed package the module runs from (a schedule entry with ``package``)."""
    parsl: ExecutorSettings | None = None
    """Type ``parsl``: the executor (with its provider and launcher) that runs the calls."""
    container: Container | None = None
    """The container the module runs in (DESIGN §15); ``argv`` is then the command inside it."""
    protocol: str = "file"
    """Type ``resident``: ``file`` (config and status files) or ``inline`` (JSON lines)."""

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
    seed: int | None = None
    """The run's ``seed``; each module gets its own, derived from it (``engine.protocol``)."""
    output_directory_given: bool = True
    """Whether the scenario names ``outputDirectory`` (else ``output_directory`` is ./runs)."""
    run_layout: str = "tick"
    """``runLayout``: ``tick`` (a directory per tick) or ``journal`` (DESIGN §16)."""


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

    def missing_submitters(self) -> tuple[Problem, ...]:
        """A problem for each module whose Parsl provider submits with a command that is
        not on this machine's PATH (``sbatch`` for a SlurmProvider)."""
        if all(module.parsl is None for module in self.modules):
            return ()  # and no import of the Parsl settings, which most runs never need
        from shutil import which

        from simba.scenario.parsl_settings import ProviderKind

        slurm = [
            module
            for module in self.modules
            if module.parsl is not None and module.parsl.provider.kind is ProviderKind.SLURM
        ]
        if not slurm or which("sbatch") is not None:
            return ()
        return tuple(
            Problem(
                str(self.schedule_file),
                f"schedule[{module.index - 1}]",
                f"module {module.name!r} submits its calls to SLURM, but sbatch is not on "
                "this machine's PATH: run it where SLURM's commands are (a login node), or "
                "give it a LocalProvider",
            )
            for module in slurm
        )

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
    def containers(self) -> dict[str, Container]:
        """The container of each module and service that has one, by name."""
        return {
            m.name: m.container for m in (*self.modules, *self.services) if m.container is not None
        }

    @property
    def modules_with_dirs(self) -> tuple[str, ...]:
        """Names of the modules and services whose command or env name their own directories."""
        return tuple(m.name for m in (*self.modules, *self.services) if m.uses_module_dirs)
