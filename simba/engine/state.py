"""The state that moves between calls: commonData and each module's moduleData and last run.

It is what a checkpoint saves and what ``summary.json`` reports.  commonData and
moduleData are opaque JSON payloads; updates replace top-level keys and never mutate
a nested value in place, so views may share structure with the state.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(slots=True, kw_only=True)
class ModuleState:
    module_data: Mapping[str, Any] | None
    last_run_tick: int | None = None
    last_run_time: datetime | None = None
    calls: int = 0
    failures: int = 0
    wall_time: float = 0.0
    max_wall_time: float = 0.0
    unknown_status_keys: set[str] = field(default_factory=set, compare=False, repr=False)
    """Status keys this driver has warned about (once per module; not saved)."""


@dataclass(frozen=True, slots=True)
class CommonUpdate:
    """What one call changes in commonData: top-level keys, and its storeFront entry."""

    keys: Mapping[str, Any] = field(default_factory=dict)
    store_front: tuple[str, Mapping[str, Any]] | None = None

    def __bool__(self) -> bool:
        return bool(self.keys) or self.store_front is not None


def apply_updates(
    common: Mapping[str, Any] | None, updates: Iterable[CommonUpdate]
) -> Mapping[str, Any] | None:
    """``common`` with ``updates`` applied in order; the input is left untouched."""
    result: dict[str, Any] | None = None
    for update in updates:
        if not update:
            continue
        if result is None:
            result = dict(common or {})
        result.update(update.keys)
        if update.store_front is not None:
            name, document = update.store_front
            fronts = dict(result.get("storeFronts") or {})
            fronts[name] = document
            result["storeFronts"] = fronts
    return common if result is None else result


@dataclass(slots=True, kw_only=True)
class RunState:
    common_data: Mapping[str, Any] | None
    modules: dict[str, ModuleState]
    calls_done: int = 0
