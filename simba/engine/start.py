"""Where a run starts (DESIGN §7, §8): a new run, a resumed one, or a continuation.

A new run gets a new run directory.  ``--resume`` takes the state and position from
the checkpoint and replays the calls the trace records as finished after it;
``continueFromTick`` takes the calls before that tick from the earlier run.  Both
refuse scenario files that changed, and kill what an earlier driver left running.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simba._version import __version__
from simba.engine.checkpoint import Position, load_checkpoint, successful_calls
from simba.engine.protocol import Status, StatusProblem, read_status
from simba.engine.rundir import RunDirectory, RunFiles
from simba.engine.state import RunState
from simba.engine.verdict import describe
from simba.errors import CheckpointError, RunDirectoryError
from simba.jsonfile import read_json, write_json
from simba.plan import Call, Mode, Plan
from simba.process import kill_leftovers
from simba.scenario import Scenario


@dataclass(frozen=True, slots=True)
class Opening:
    """How the run goes on from the directory as opened."""

    position: Position
    replay: Callable[[Call], bool]
    """Whether a call is taken from an earlier driver instead of executed."""
    state: RunState | None = None
    """The checkpoint's state when resuming (otherwise the scenario's initial state)."""
    replay_offset: int | None = None
    """When resuming: where the trace records of calls to replay start."""


def open_run(
    scenario: Scenario,
    rundir: RunDirectory,
    *,
    resume: bool,
    overwrite: bool,
    timeout: float | None,
) -> Opening:
    """Create, continue or resume ``rundir``; lock it; where the run goes on from."""
    start = Position(mode=Mode.START.value, tick=scenario.timeline.initial_tick)
    continued = _continued_calls(scenario)
    if resume:
        if not rundir.root.is_dir():
            raise RunDirectoryError(f"cannot resume: {rundir.root} does not exist")
        rundir.open_existing()
        if not rundir.checkpoint_file.exists() and rundir.run_info_file.exists():
            # The driver died before its first checkpoint, so before any call.
            _check_fingerprint(scenario, rundir, read_json(rundir.run_info_file).get("fingerprint"))
            kill_leftovers(rundir.root)
            return Opening(start, continued)
        checkpoint = load_checkpoint(rundir.checkpoint_file)
        _check_fingerprint(scenario, rundir, checkpoint.fingerprint)
        kill_leftovers(rundir.root)
        done = successful_calls(rundir.trace_file, checkpoint.trace_offset)
        return Opening(
            checkpoint.position,
            lambda call: (call.module.name, call.mode.value, call.tick) in done or continued(call),
            checkpoint.state,
            checkpoint.trace_offset,
        )
    info = run_info(scenario, timeout)
    continue_from = scenario.driver.continue_from_tick
    if continue_from is None:
        rundir.create(info, overwrite=overwrite)
        return Opening(start, continued)
    if not rundir.root.is_dir():
        raise RunDirectoryError(
            f"continueFromTick {continue_from} needs the earlier run's directory "
            f"{rundir.root}, which does not exist; give its runId"
        )
    rundir.open_existing()
    kill_leftovers(rundir.root)
    write_json(rundir.run_info_file, info)
    return Opening(start, continued)


def carried_over(plan: Plan, position: Position, replay: Callable[[Call], bool]) -> int:
    """How many calls from ``position`` on this run takes from earlier drivers.

    They are the calls a resumed run replays (and those continueFromTick takes
    over): whole batches, then part of one at most, because a driver finishes a
    batch before it starts the next.  With the checkpoint's count they give the
    number of successful calls before this driver executes any, so a counter built
    on them (``jobsCompleted``) never goes down across a restart.
    """
    count = 0
    for batch in plan.batches_from(position.mode, position.tick):
        replayed = sum(1 for call in batch.calls if replay(call))
        count += replayed
        if replayed < len(batch.calls):
            break
    return count


def replayed_status(call: Call, status_path: Path) -> Status:
    """The status a replayed call left in the earlier run, or why the run cannot go on."""
    try:
        return read_status(status_path)
    except StatusProblem as exc:
        raise CheckpointError(
            f"cannot carry on the earlier run: module {call.module.name!r} "
            f"({describe(call)}) finished there, but {exc}"
        ) from None


def run_info(scenario: Scenario, timeout: float | None) -> dict[str, Any]:
    """``.simba/run.json``: what ``--resume`` needs to find and check the scenario."""
    return {
        "simba": __version__,
        "scenario": str(scenario.source),
        "fingerprint": scenario.fingerprint,
        "timeout": timeout,
    }


def resume_source(run_dir: Path) -> tuple[Path, float | None]:
    """The scenario path and the timeout stored in the run directory ``run_dir``."""
    info_file = RunFiles(run_dir).run_info
    try:
        info = read_json(info_file)
        return Path(info["scenario"]), info.get("timeout")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise RunDirectoryError(
            f"cannot resume {run_dir}: it is not a SIMBA run directory ({info_file} is "
            "missing or damaged)"
        ) from exc


def _check_fingerprint(scenario: Scenario, rundir: RunDirectory, fingerprint: object) -> None:
    """Refuse to resume with scenario files that changed since the run started."""
    if fingerprint != scenario.fingerprint:
        rundir.unlock()
        files = ", ".join(map(str, dict.fromkeys((scenario.driver_file, scenario.schedule_file))))
        raise CheckpointError(
            f"cannot resume {rundir.root}: the scenario files ({files}) "
            "changed since the run started; restore them, or start a new run"
        )


def _continued_calls(scenario: Scenario) -> Callable[[Call], bool]:
    """Whether continueFromTick takes a call from the earlier run instead of executing it."""
    continue_from = scenario.driver.continue_from_tick
    initial = scenario.timeline.initial_tick
    if continue_from is None:
        return lambda call: False
    return lambda call: (
        (call.mode is Mode.STEP and call.tick < continue_from)
        or (call.mode is Mode.START and continue_from > initial)
    )
