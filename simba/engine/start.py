"""Where a run starts (DESIGN §7, §8): a new run, a resumed one, or a continuation.

A new run gets a new run directory.  ``--resume`` takes the state and position from
the checkpoint and replays the calls the trace records as finished after it;
``continueFromTick`` takes the calls before that tick from the earlier run.  Both
refuse scenario files that changed, and kill what an earlier driver left running.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simba import schemas
from simba._version import __version__
from simba.engine import layout as layouts
from simba.engine.checkpoint import (
    Checkpoint,
    Position,
    RecordedCalls,
    damaged,
    load_checkpoint,
    recorded_calls,
)
from simba.engine.layout import recorded_status
from simba.engine.options import RunOptions
from simba.engine.protocol import Status, StatusProblem, read_status, status_from_line
from simba.engine.reference_run import adopt, is_reference_run
from simba.engine.rundir import RunDirectory, RunFiles, default_run_id
from simba.engine.state import RunState
from simba.engine.verdict import describe
from simba.errors import CheckpointError, Problem, RunDirectoryError, SimbaError
from simba.jsonfile import JSONFileError, read_json, write_json
from simba.leftovers import kill_leftovers
from simba.plan import Batch, Call, Mode, Plan
from simba.record.rows import EarlierAttempt
from simba.scenario import Scenario
from simba.scenario.timeline import LONGEST_TIMEOUT


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
    taken_over: Callable[[str, str, int], bool] = lambda module, mode, tick: False
    """``replay`` by ``(module, mode, tick)``."""
    earlier: tuple[EarlierAttempt, ...] = ()
    """When resuming: the attempts the trace records after the checkpoint."""
    reopened: bool = False
    """Whether the directory holds an earlier driver's records (resume, continueFromTick)."""


def open_run(
    scenario: Scenario,
    rundir: RunDirectory,
    *,
    resume: bool,
    overwrite: bool,
    timeout: float | None,
) -> Opening:
    """Create, continue or resume ``rundir``; lock it; where the run goes on from.

    The images of modules in containers are resolved to digests and recorded; a resumed
    run refuses a changed one (:mod:`simba.containers.pinning`).
    """
    opening = _open_run(scenario, rundir, resume=resume, overwrite=overwrite, timeout=timeout)
    if scenario.containers:
        from simba.containers.pinning import pin

        try:
            pin(scenario.containers, rundir.root / ".simba", resume=resume)
        except SimbaError:
            rundir.unlock()
            raise
    return opening


def _open_run(
    scenario: Scenario,
    rundir: RunDirectory,
    *,
    resume: bool,
    overwrite: bool,
    timeout: float | None,
) -> Opening:
    start = Position(mode=Mode.START.value, tick=scenario.timeline.initial_tick)
    continued = _continued_calls(scenario)
    replay = _by_call(continued)
    if resume:
        if not rundir.root.is_dir():
            raise RunDirectoryError(f"cannot resume: {rundir.root} does not exist")
        rundir.open_existing()
        try:
            return _resumed(scenario, rundir, continued)
        except SimbaError:
            rundir.unlock()
            raise
    info = run_info(scenario, timeout)
    continue_from = scenario.driver.continue_from_tick
    if continue_from is None:
        rundir.create(info, overwrite=overwrite)
        return Opening(start, replay, taken_over=continued)
    if not rundir.root.is_dir():
        raise RunDirectoryError(
            f"continueFromTick {continue_from} needs the earlier run's directory "
            f"{rundir.root}, which does not exist; give its runId"
        )
    if is_reference_run(rundir.root):  # written by the reference driver: take it over
        adopt(rundir, scenario.timeline.initial_tick)
    rundir.open_existing()
    kill_leftovers(rundir.root)
    write_json(rundir.run_info_file, info)
    return Opening(start, replay, taken_over=continued, reopened=True)


def _resumed(
    scenario: Scenario, rundir: RunDirectory, continued: Callable[[str, str, int], bool]
) -> Opening:
    """Where a resumed run goes on from, its records checked against the scenario."""
    if not rundir.checkpoint_file.exists() and rundir.run_info_file.exists():
        # The driver died before its first checkpoint, so before any call.
        _check_fingerprint(scenario, rundir, read_run_info(rundir.run_info_file)["fingerprint"])
        kill_leftovers(rundir.root)
        start = Position(mode=Mode.START.value, tick=scenario.timeline.initial_tick)
        return Opening(start, _by_call(continued), taken_over=continued, reopened=True)
    checkpoint = load_checkpoint(rundir.checkpoint_file)
    _check_fingerprint(scenario, rundir, checkpoint.fingerprint)
    _check_fits(scenario, checkpoint, rundir.checkpoint_file)
    kill_leftovers(rundir.root)
    recorded = _recorded(scenario, rundir, checkpoint.trace_offset)
    done = recorded.succeeded
    for name, count in recorded.failed.items():  # attempts that failed after the checkpoint
        if name in checkpoint.state.modules:  # still count in the summary, as they happened
            checkpoint.state.modules[name].calls += count
            checkpoint.state.modules[name].failures += count

    def taken_over(module: str, mode: str, tick: int) -> bool:
        return (module, mode, tick) in done or continued(module, mode, tick)

    return Opening(
        checkpoint.position,
        _by_call(taken_over),
        checkpoint.state,
        checkpoint.trace_offset,
        taken_over,
        recorded.attempts,
        reopened=True,
    )


def _recorded(scenario: Scenario, rundir: RunDirectory, offset: int) -> RecordedCalls:
    """The trace's records after ``offset``, as far as the calls' statuses are on record:
    a journal run's and an inline call's are in the run database, committed in batches."""
    inline = {m.name for m in scenario.modules if m.protocol == "inline"}
    if not (rundir.journal or inline):
        return recorded_calls(rundir.trace_file, offset)
    documented = layouts.Documented(rundir.root)

    def replayable(module: str, mode: str, tick: int, attempt: int) -> bool:
        in_database = rundir.journal or module in inline
        return not in_database or documented(module, mode, tick, attempt)

    try:
        return recorded_calls(rundir.trace_file, offset, replayable)
    finally:
        documented.close()


def _check_fits(scenario: Scenario, checkpoint: Checkpoint, path: Path) -> None:
    """Refuse a checkpoint whose modules or position do not belong to the scenario's plan."""
    problems = []
    names = {module.name for module in scenario.modules}
    found = set(checkpoint.state.modules)
    if found != names:
        problems.append(
            f"modules: it holds {', '.join(sorted(found)) or 'none'}, but the scenario's "
            f"modules are {', '.join(sorted(names))}"
        )
    plan = Plan(scenario)
    position = checkpoint.position
    if not _is_batch(plan, position):
        problems.append(
            f"position: {position.mode} at tick {position.tick} is no batch of the run's plan "
            f"(start at {plan.initial_tick}, steps at due ticks, end at {plan.final_tick})"
        )
    if checkpoint.state.calls_done > plan.call_count:
        problems.append(
            f"callsDone: {checkpoint.state.calls_done} is more than the {plan.call_count} "
            "calls of the whole run"
        )
    if problems:
        raise damaged(path, "; ".join(problems))


def _is_batch(plan: Plan, position: Position) -> bool:
    """Whether ``position`` is where a batch of ``plan`` starts (or ``done``)."""
    if position.mode == Mode.START.value:
        return position.tick == plan.initial_tick
    if position.mode in (Mode.END.value, "done"):
        return position.tick == plan.final_tick
    first = next(plan.due_ticks(position.tick), None)
    return first is not None and first[0] == position.tick


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
        recorded = recorded_status(status_path, call)  # scale: journal and inline calls
        return read_status(status_path) if recorded is None else status_from_line(recorded)
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
    info = read_run_info(RunFiles(run_dir).run_info)
    timeout = info.get("timeout")
    return Path(info["scenario"]), None if timeout is None else float(timeout)


def read_run_info(info_file: Path) -> dict[str, Any]:
    """``.simba/run.json`` checked against ``schema/run.json``; or :class:`RunDirectoryError`."""
    run_dir = info_file.parent.parent
    try:
        info = read_json(info_file)
    except FileNotFoundError:
        raise RunDirectoryError(
            f"cannot resume {run_dir}: it is not a SIMBA run directory ({info_file} is missing)"
        ) from None
    except (OSError, JSONFileError) as exc:
        raise RunDirectoryError(f"cannot resume {run_dir}: {info_file} is damaged: {exc}") from exc
    problems = schemas.validate("run", info, file=str(info_file))
    timeout = info.get("timeout") if isinstance(info, dict) else None
    if not problems and timeout is not None and not 0 < timeout <= LONGEST_TIMEOUT:
        problems = [
            Problem(str(info_file), "timeout", f"{timeout} is no timeout SIMBA can wait for")
        ]
    if problems:
        details = "; ".join(f"{p.path or 'top level'}: {p.message}" for p in problems)
        raise RunDirectoryError(
            f"cannot resume {run_dir}: {info_file} is damaged ({details}); restore it, or "
            "start the run anew"
        )
    assert isinstance(info, dict)
    return info


def _check_fingerprint(scenario: Scenario, rundir: RunDirectory, fingerprint: object) -> None:
    """Refuse to resume with scenario files that changed since the run started."""
    if fingerprint != scenario.fingerprint:
        rundir.unlock()
        files = ", ".join(map(str, dict.fromkeys((scenario.driver_file, scenario.schedule_file))))
        raise CheckpointError(
            f"cannot resume {rundir.root}: the scenario files ({files}) "
            "changed since the run started; restore them, or start a new run"
        )


def _continued_calls(scenario: Scenario) -> Callable[[str, str, int], bool]:
    """Whether continueFromTick takes a call (by module, mode and tick) from the earlier
    run instead of executing it."""
    continue_from = scenario.driver.continue_from_tick
    initial = scenario.timeline.initial_tick
    if continue_from is None:
        return lambda module, mode, tick: False
    return lambda module, mode, tick: (
        (mode == Mode.STEP.value and tick < continue_from)
        or (mode == Mode.START.value and continue_from > initial)
    )


def _by_call(taken_over: Callable[[str, str, int], bool]) -> Callable[[Call], bool]:
    return lambda call: taken_over(call.module.name, call.mode.value, call.tick)


def run_root(scenario: Scenario, options: RunOptions) -> Path:
    """The run directory: the one to resume, or where the options or the scenario say."""
    driver = scenario.driver
    return options.resume or RunDirectory.locate(
        Path(options.output_directory).resolve()
        if options.output_directory
        else driver.output_directory,
        options.run_id or driver.run_id or default_run_id(),
        options.cell_id or driver.cell_id,
    )


def position_before(batch: Batch | None, final_tick: int) -> Position:
    """The checkpoint position before ``batch`` (``done`` after the last)."""
    if batch is None:
        return Position(mode="done", tick=final_tick)
    return Position(mode=batch.mode.value, tick=batch.tick)


def with_next(batches: Iterator[Batch]) -> Iterator[tuple[Batch, Batch | None]]:
    """Each batch with the one after it."""
    batch = next(batches, None)
    while batch is not None:
        following = next(batches, None)
        yield batch, following
        batch = following
