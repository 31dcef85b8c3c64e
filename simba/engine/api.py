"""The public way to run: :func:`run` a scenario, or continue one (:func:`resume_options`)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from simba.engine.loop import Engine
from simba.engine.options import RunOptions, RunResult
from simba.engine.start import resume_source
from simba.events import Observer
from simba.scenario import Scenario


def run(
    scenario: Scenario | str | Path,
    *,
    observers: Iterable[Observer] = (),
    **options: Any,
) -> RunResult:
    """Load (if given a path) and run a scenario; raises a :class:`SimbaError` on failure."""
    from simba.scenario import load_scenario

    loaded = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    return Engine(loaded, RunOptions(**options), observers).run()


def resume_options(
    run_dir: Path, *, timeout: float | None = None, jobs: int | None = None
) -> tuple[Path, RunOptions]:
    """The scenario path and options with which to resume the run in ``run_dir``."""
    directory = run_dir.resolve()
    source, stored_timeout = resume_source(directory)
    chosen = timeout if timeout is not None else stored_timeout
    return source, RunOptions(resume=directory, timeout=chosen, jobs=jobs)
