"""One run of a scenario: the loop and everything it owns (DESIGN §4-§9).

The engine plans, writes configs, hands calls to a runner, judges them, merges their
status and keeps the run directory resumable.  It emits events and never prints.
"""

from simba.engine.loop import Engine, RunOptions, RunResult, resume_options, run

__all__ = ["Engine", "RunOptions", "RunResult", "resume_options", "run"]
