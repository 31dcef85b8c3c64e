"""Scenario files -> a validated, frozen :class:`Scenario` (DESIGN §2, §3).

:mod:`~simba.scenario.model` holds the objects, :mod:`~simba.scenario.loader` reads the
files, :mod:`~simba.scenario.driver` and :mod:`~simba.scenario.schedule` check their two
sections, :mod:`~simba.scenario.timeline` maps ticks to times.
"""

from simba.scenario.loader import load_scenario, with_driver
from simba.scenario.model import Driver, ModuleSpec, ModuleType, Scenario

__all__ = ["Driver", "ModuleSpec", "ModuleType", "Scenario", "load_scenario", "with_driver"]
