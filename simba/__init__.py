"""SIMBA, a co-simulation driver.

``simba.load(path)`` reads and checks a scenario; ``simba.run(path_or_scenario)``
runs it and returns a :class:`RunResult` (or raises a :class:`SimbaError`).
Module authors use :class:`simba.module.Module`.

Names are imported on first use, so that ``simba --version`` and modules written
with the SDK start fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from simba._version import __version__

if TYPE_CHECKING:
    from simba.engine import Engine, RunOptions, RunResult, run
    from simba.errors import (
        CheckpointError,
        ModuleError,
        ModuleTimeoutError,
        Problem,
        RunDirectoryError,
        RunnerError,
        ScenarioError,
        SimbaError,
        StatusFileError,
    )
    from simba.scenario import ModuleSpec, Scenario, load_scenario

    load = load_scenario

_WHERE = {
    "CheckpointError": "errors",
    "Engine": "engine",
    "ModuleError": "errors",
    "ModuleSpec": "scenario",
    "ModuleTimeoutError": "errors",
    "Problem": "errors",
    "RunDirectoryError": "errors",
    "RunOptions": "engine",
    "RunResult": "engine",
    "RunnerError": "errors",
    "Scenario": "scenario",
    "ScenarioError": "errors",
    "SimbaError": "errors",
    "StatusFileError": "errors",
    "load": "scenario:load_scenario",
    "load_scenario": "scenario",
    "run": "engine",
}

__all__ = sorted([*_WHERE, "__version__"])


def __getattr__(name: str) -> Any:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module 'simba' has no attribute {name!r}")
    module_name, _, attribute = where.partition(":")
    value = getattr(importlib.import_module(f".{module_name}", __name__), attribute or name)
    globals()[name] = value
    return value
