"""The next call, prepared while the current one runs (see ``Engine._overlap``).

Right after a module starts, the engine writes the config document of the call after
it as it will be if the running call changes nothing.  :class:`ConfigAhead` records
what that config took as given, so that once the running call is judged one identity
check tells whether the file on disk is still the next call's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from simba.engine.state import ModuleState
from simba.plan import Call


@dataclass(frozen=True, slots=True)
class Upcoming:
    """The call after the running one, for writing its config ahead."""

    call: Call
    time: datetime
    view: Mapping[str, Any] | None
    """Its commonData if the running call changes none."""
    after: Call | None
    """The running call, if it is of the same module (whose last-run values it sets)."""
    now: datetime
    """The running call's time."""


@dataclass(frozen=True, slots=True)
class ConfigAhead:
    """A config written ahead, and what it took as given."""

    call: Call
    view: Mapping[str, Any] | None
    module_data: Mapping[str, Any] | None
    last_run: tuple[int | None, datetime | None]
    services: Mapping[str, Any] | None
    paths_and_config: tuple[Path, Path, dict[str, Any]]

    def holds(
        self,
        call: Call,
        view: Mapping[str, Any] | None,
        module_state: ModuleState,
        services: Mapping[str, Any] | None,
    ) -> bool:
        """Whether the config written ahead is ``call``'s (state is replaced, never mutated)."""
        return (
            call is self.call
            and view is self.view
            and module_state.module_data is self.module_data
            and (module_state.last_run_tick, module_state.last_run_time) == self.last_run
            and services is self.services
        )
