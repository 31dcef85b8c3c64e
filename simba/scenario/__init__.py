"""Scenario files -> a validated, frozen :class:`Scenario` (DESIGN §2, §3)."""

from simba.scenario.loader import (
    Driver,
    ModuleSpec,
    ModuleType,
    Scenario,
    load_scenario,
    with_driver,
)

__all__ = ["Driver", "ModuleSpec", "ModuleType", "Scenario", "load_scenario", "with_driver"]
