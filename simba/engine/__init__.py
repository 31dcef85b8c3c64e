"""One run of a scenario: the loop and everything it owns (DESIGN §4-§9).

The engine plans, writes configs, hands calls to a runner, judges them, merges their
status and keeps the run directory resumable.  It emits events and never prints.
"""

from simba.engine.api import resume_options, run
from simba.engine.loop import Engine
from simba.engine.options import RunOptions, RunResult
from simba.engine.summary import ModuleStats, RunSummary, ServiceSummary

__all__ = [
    "Engine",
    "ModuleStats",
    "RunOptions",
    "RunResult",
    "RunSummary",
    "ServiceSummary",
    "resume_options",
    "run",
]
