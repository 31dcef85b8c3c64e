"""The run loop: plan -> config -> runner -> status -> merge, emitting events.

The engine owns the :class:`~simba.state.RunState`, writes every config document,
judges every call the same way whatever the back-end, and stops the run at the first
failed call (after its retries), writing ``summary.json`` in every outcome.
It never prints; observers render its events.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._version import __version__
from .errors import (
    ModuleError,
    ModuleTimeoutError,
    ScenarioError,
    SimbaError,
    StatusFileError,
    format_tail,
)
from .events import (
    CallFinished,
    CallStarted,
    Event,
    ModuleLine,
    Observer,
    RunFinished,
    RunStarted,
    RunWarning,
    TickStarted,
)
from .jsonfile import write_json
from .observers.trace import TraceWriter
from .plan import Batch, Call, Mode, Plan
from .protocol import StatusProblem, build_config, common_update, read_status, tail
from .rundir import RunDirectory, default_run_id
from .runners.base import CallRequest, CallResult, Runner
from .runners.local import LocalRunner
from .scenario import Scenario
from .state import CommonUpdate, ModuleState, RunState, apply_updates

#: Backoff before retry n is BACKOFF * 2**(n-1) seconds, at most BACKOFF_MAX.
BACKOFF = 0.1
BACKOFF_MAX = 10.0


@dataclass(frozen=True, slots=True, kw_only=True)
class RunOptions:
    """How to run a scenario; each field overrides the scenario's own setting."""

    output_directory: Path | None = None
    run_id: str | None = None
    cell_id: str | None = None
    overwrite: bool = False
    timeout: float | None = None
    """Default timeout in seconds for modules that set none."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RunResult:
    run_dir: Path
    calls: int
    wall_time: float
    common_data: Mapping[str, Any] | None
    module_data: Mapping[str, Mapping[str, Any] | None]


class Engine:
    def __init__(
        self,
        scenario: Scenario,
        options: RunOptions | None = None,
        observers: Iterable[Observer] = (),
        runner: Runner | None = None,
    ) -> None:
        self.scenario = scenario
        self.options = options or RunOptions()
        self.observers = list(observers)
        self.plan = Plan(scenario)
        self.timeline = scenario.timeline
        self.runner = runner or LocalRunner()
        driver = scenario.driver
        root = RunDirectory.locate(
            self.options.output_directory or driver.output_directory,
            self.options.run_id or driver.run_id or default_run_id(),
            self.options.cell_id or driver.cell_id,
        )
        self.rundir = RunDirectory(root, self.timeline, len(scenario.modules))
        self.state = RunState(
            common_data=scenario.common_data,
            modules={m.name: ModuleState(module_data=m.module_data) for m in scenario.modules},
        )
        self._started = 0.0

    # -- the loop ------------------------------------------------------------------------

    def run(self) -> RunResult:
        if self.scenario.driver.continue_from_tick is not None:
            raise ScenarioError.single(
                self.scenario.driver_file,
                "continueFromTick",
                "continuing an earlier run is not supported by this version yet",
            )
        self.rundir.create(overwrite=self.options.overwrite)
        self._started = time.perf_counter()
        trace = TraceWriter(self.rundir.trace_file)
        self.observers.append(trace)
        timeline = self.timeline
        self.emit(
            RunStarted(
                run_dir=self.rundir.root,
                run_id=self.rundir.root.name,
                initial_tick=timeline.initial_tick,
                final_tick=timeline.final_tick,
                initial_time=timeline.time(timeline.initial_tick),
                final_time=timeline.time(timeline.final_tick),
                call_count=self.plan.call_count,
                modules=tuple(m.name for m in self.scenario.modules),
            )
        )
        error: SimbaError | None = None
        try:
            with self.runner:
                batches = self.plan.batches()
                batch = next(batches, None)
                while batch is not None:
                    following = next(batches, None)
                    if following is not None:
                        self.rundir.prepare(following.calls)
                    self._run_batch(batch)
                    batch = following
        except SimbaError as exc:
            error = exc
            raise
        finally:
            self.rundir.close()
            self._finish(error)
            self.observers.remove(trace)
            trace.close()
        return RunResult(
            run_dir=self.rundir.root,
            calls=self.state.calls_done,
            wall_time=time.perf_counter() - self._started,
            common_data=self.state.common_data,
            module_data={name: m.module_data for name, m in self.state.modules.items()},
        )

    def emit(self, event: Event) -> None:
        for observer in self.observers:
            observer(event)

    def _run_batch(self, batch: Batch) -> None:
        current_time = self.timeline.time(batch.tick)
        self.emit(
            TickStarted(
                mode=batch.mode.value,
                tick=batch.tick,
                time=current_time,
                call_count=len(batch.calls),
            )
        )
        base = self.state.common_data
        done: list[tuple[str, CommonUpdate]] = []
        for position, call in enumerate(batch.calls):
            if len(call.sees) == position:  # sees every earlier call: the running state
                view = self.state.common_data
            else:
                view = apply_updates(base, (u for name, u in done if name in call.sees))
            update = self._call(call, current_time, view)
            done.append((call.module.name, update))
            self.state.common_data = apply_updates(self.state.common_data, (update,))

    def _call(
        self, call: Call, current_time: Any, common_view: Mapping[str, Any] | None
    ) -> CommonUpdate:
        module = call.module
        module_state = self.state.modules[module.name]
        directory = self.rundir.directory(call)
        config_path = self.rundir.config_path(directory, module.index)
        status_path = self.rundir.status_path(directory, module.index)
        target_time = self.timeline.time(call.target_tick) if call.target_tick is not None else None
        config = build_config(
            call,
            status_file=status_path,
            run_dir=self.rundir.root,
            tick_format=self.timeline.tick_format,
            current_time=current_time,
            target_time=target_time,
            module_state=module_state,
            common_data=common_view,
        )
        write_json(config_path, config)
        timeout = module.timeout if module.timeout is not None else self.options.timeout
        attempts = module.retries + 1
        for attempt in range(1, attempts + 1):
            status_path.unlink(missing_ok=True)  # a stale status must never count
            stdout_path, stderr_path = self.rundir.output_paths(directory, module.index, attempt)
            self.emit(
                CallStarted(
                    module=module.name, mode=call.mode.value, tick=call.tick, attempt=attempt
                )
            )
            started = time.perf_counter()
            result = self.runner.run(
                CallRequest(
                    module=module,
                    config_path=config_path,
                    stdout_path=stdout_path,
                    stderr_path=stderr_path,
                    timeout=timeout,
                )
            )
            for level, text in result.lines:
                self.emit(ModuleLine(module=module.name, tick=call.tick, level=level, text=text))
            outcome, status, error = self._judge(call, result, status_path, stderr_path, timeout)
            module_state.calls += 1
            module_state.wall_time += result.wall_time
            module_state.max_wall_time = max(module_state.max_wall_time, result.wall_time)
            self.emit(
                CallFinished(
                    module=module.name,
                    mode=call.mode.value,
                    tick=call.tick,
                    target_tick=call.target_tick,
                    attempt=attempt,
                    outcome=outcome,
                    exit_code=result.exit_code,
                    wall_time=result.wall_time,
                    started_at=started - self._started,
                    reason=None if error is None else str(error).partition("\n")[0],
                )
            )
            if status is not None:
                break
            module_state.failures += 1
            assert error is not None
            if attempt == attempts or result.cancelled:
                raise error
            delay = min(BACKOFF * 2 ** (attempt - 1), BACKOFF_MAX)
            self.emit(
                RunWarning(
                    module=module.name,
                    tick=call.tick,
                    message=f"attempt {attempt} of {attempts} failed; retrying in {delay:g} s",
                )
            )
            time.sleep(delay)
        assert status is not None
        update, warnings = common_update(module, status, self.scenario.common_data, config)
        for warning in warnings:
            self.emit(RunWarning(module=module.name, tick=call.tick, message=warning))
        if status.module_data is not None:
            module_state.module_data = status.module_data
        module_state.last_run_tick = call.tick
        module_state.last_run_time = current_time
        self.state.calls_done += 1
        return update

    def _judge(
        self,
        call: Call,
        result: CallResult,
        status_path: Path,
        stderr_path: Path,
        timeout: float | None,
    ) -> tuple[str, Any, ModuleError | None]:
        """(outcome, status or None, error or None) for one finished attempt."""
        module = call.module
        where = f"module {module.name!r} ({_describe(call)})"
        facts: dict[str, Any] = {
            "module": module.name,
            "tick": call.tick,
            "mode": call.mode.value,
            "exit_code": result.exit_code,
            "log_path": stderr_path,
        }
        if result.cancelled:
            return "cancelled", None, ModuleError(f"{where} was stopped", **facts)
        if result.timed_out:
            message = f"{where} ran longer than its timeout of {timeout:g} s and was stopped"
            return "timeout", None, ModuleTimeoutError(_with_log(message, stderr_path), **facts)
        if result.exit_code is None:
            how = (
                f"was killed by signal {_signal_name(result.signal)}"
                if result.signal
                else "could not be started"
            )
            return "signal", None, ModuleError(_with_log(f"{where} {how}", stderr_path), **facts)
        if result.exit_code != 0:
            message = f"{where} exited with code {result.exit_code}"
            return "exit", None, ModuleError(_with_log(message, stderr_path), **facts)
        try:
            status = read_status(status_path)
        except StatusProblem as exc:
            return (
                "status",
                None,
                StatusFileError(_with_log(f"{where}: {exc}", stderr_path), **facts),
            )
        if not status.success:
            said = f": {status.message}" if status.message else ""
            message = f"{where} reported status 'fail'{said}"
            return "fail", None, StatusFileError(_with_log(message, stderr_path), **facts)
        return "success", status, None

    def _finish(self, error: SimbaError | None) -> None:
        wall_time = time.perf_counter() - self._started
        summary = {
            "simba": __version__,
            "runId": self.rundir.root.name,
            "runDirectory": str(self.rundir.root),
            "outcome": "failed" if error else "success",
            "error": str(error) if error else None,
            "initialTick": self.timeline.initial_tick,
            "finalTick": self.timeline.final_tick,
            "calls": self.state.calls_done,
            "plannedCalls": self.plan.call_count,
            "wallTime": round(wall_time, 6),
            "commonData": self.state.common_data,
            "modules": {
                name: {
                    "calls": m.calls,
                    "failures": m.failures,
                    "wallTime": round(m.wall_time, 6),
                    "meanWallTime": round(m.wall_time / m.calls, 6) if m.calls else None,
                    "maxWallTime": round(m.max_wall_time, 6),
                    "lastRunTick": m.last_run_tick,
                    "moduleData": m.module_data,
                }
                for name, m in self.state.modules.items()
            },
        }
        write_json(self.rundir.summary_file, summary)
        self.emit(
            RunFinished(
                run_dir=self.rundir.root,
                outcome="failed" if error else "success",
                calls=self.state.calls_done,
                wall_time=wall_time,
                error=str(error) if error else None,
            )
        )


def _describe(call: Call) -> str:
    if call.mode is Mode.STEP:
        return f"step at tick {call.tick}"
    return f"{call.mode.value} call at tick {call.tick}"


def _with_log(message: str, stderr_path: Path) -> str:
    lines = tail(stderr_path)
    if not lines:
        return f"{message}; its stderr is empty (full log: {stderr_path})"
    return f"{message}; last lines of its stderr:\n{format_tail(lines)}\n(full log: {stderr_path})"


def _signal_name(number: int | None) -> str:
    import signal

    try:
        return signal.Signals(number or 0).name
    except ValueError:
        return str(number)


def run(
    scenario: Scenario | str | Path,
    *,
    observers: Iterable[Observer] = (),
    **options: Any,
) -> RunResult:
    """Load (if given a path) and run a scenario; raises a :class:`SimbaError` on failure."""
    from .scenario import load_scenario

    loaded = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    return Engine(loaded, RunOptions(**options), observers).run()
