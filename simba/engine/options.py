"""What a run is asked to do and what it gives back: :class:`RunOptions`, :class:`RunResult`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simba.engine.summary import RunSummary
from simba.errors import OptionsError
from simba.names import NAME_RULE, is_name
from simba.scenario.timeline import timeout_seconds


@dataclass(frozen=True, slots=True, kw_only=True)
class RunOptions:
    """How to run a scenario; each field overrides the scenario's own setting."""

    output_directory: Path | None = None
    run_id: str | None = None
    cell_id: str | None = None
    overwrite: bool = False
    timeout: float | None = None
    """Default timeout in seconds for modules that set none."""
    resume: Path | None = None
    """Continue the run in this directory from its last checkpoint."""
    jobs: int | None = None
    """Most calls run at once in dependency mode (default: the CPU count)."""
    cache_directory: Path | None = None
    """Where the services' ``CACHE_ROOT`` directories go (default: inside the run directory)."""
    command_line: tuple[str, ...] | None = None
    """The command that started the run, for the run database (default: ``sys.argv``)."""
    layout: str | None = None
    """``tick`` or ``journal``: the run layout (default: the scenario's ``runLayout``)."""

    def __post_init__(self) -> None:
        """Refuse a timeout no wait can honour and a job count below one, as the CLI does."""
        if self.timeout is not None:
            try:
                timeout_seconds(self.timeout)
            except ValueError as exc:
                raise OptionsError(f"timeout: {exc}") from None
        for option, name in (("run_id", self.run_id), ("cell_id", self.cell_id)):
            if name is not None and not (isinstance(name, str) and is_name(name)):
                raise OptionsError(f"{option}: {name!r}: {NAME_RULE}")
        if self.jobs is not None and (isinstance(self.jobs, bool) or self.jobs < 1):
            raise OptionsError(f"jobs: {self.jobs!r} is not a number of calls; give 1 or more")


@dataclass(frozen=True, slots=True, kw_only=True)
class RunResult:
    """A finished run: where it is, how many calls, its final data and its summary."""

    run_dir: Path
    calls: int
    wall_time: float
    common_data: Mapping[str, Any] | None
    module_data: Mapping[str, Mapping[str, Any] | None]
    summary: RunSummary
    """What ``.simba/summary.json`` holds."""
