"""The run loop: plan -> config -> runner -> status -> merge, emitting events.

The engine owns the :class:`~simba.engine.state.RunState`, writes every config document,
judges every call the same way whatever the back-end, and stops the run at the first
failed call (after its retries).  It checkpoints at batch boundaries (at most about
once a second, and at failure, end and signals), and it writes ``summary.json`` in
every outcome.  On SIGINT/SIGTERM it stops the running module processes, checkpoints
and raises :class:`~simba.errors.RunInterrupted`.  It never prints; observers render
its events.

Between two serial calls it does only what decides the next call; the rest (events,
the checkpoint boundary, the next call's directory and config) follows while the next
module runs (:mod:`simba.engine.lookahead`).  Where a run starts is :mod:`simba.engine.start`'s
business, the verdict on each attempt :mod:`simba.engine.verdict`'s.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from simba._version import __version__
from simba.engine.checkpoint import (
    Checkpoint,
    Position,
    save_checkpoint,
)
from simba.engine.journal import TraceWriter
from simba.engine.lookahead import ConfigAhead, Upcoming
from simba.engine.protocol import Status, StatusProblem, build_config, common_update, read_status
from simba.engine.rundir import RunDirectory, default_run_id
from simba.engine.services import ServiceHost
from simba.engine.signals import SignalForwarding
from simba.engine.start import open_run, resume_source
from simba.engine.state import CommonUpdate, ModuleState, RunState, apply_updates
from simba.engine.verdict import Failure, describe, judge
from simba.errors import (
    CheckpointError,
    RunInterrupted,
    ServiceError,
    SimbaError,
)
from simba.events import (
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
from simba.jsonfile import write_json, write_json_new
from simba.plan import Batch, Call, Plan
from simba.process import signal_name
from simba.runners.base import CallRequest, Runner
from simba.runners.router import default_runner
from simba.scenario.loader import Scenario

if TYPE_CHECKING:
    from concurrent.futures import Future, ThreadPoolExecutor

#: Backoff before retry n is BACKOFF * 2**(n-1) seconds, at most BACKOFF_MAX.
BACKOFF = 0.1
BACKOFF_MAX = 10.0
#: Seconds between two checkpoints at batch boundaries (failure, end and signals always write).
CHECKPOINT_INTERVAL = 1.0


@dataclass(frozen=True, slots=True, kw_only=True)
class RunOptions:
    """How to run a scenario; each field overrides the scenario's own setting."""

    output_directory: Path | None = None
    run_id: str | None = None
    cell_id: str | None = None
    overwrite: bool = False
    timeout: float | None = None
    """Default timeout in seconds for modules that set none."""
    resume: Path | None = None
    """Continue the run in this directory from its last checkpoint."""
    jobs: int | None = None
    """Most calls run at once in dependency mode (default: the CPU count)."""
    cache_directory: Path | None = None
    """Where the services' ``CACHE_ROOT`` directories go (default: inside the run directory)."""


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
        self.timeline = scenario.timeline
        driver = scenario.driver
        root = self.options.resume or RunDirectory.locate(
            Path(self.options.output_directory).resolve()
            if self.options.output_directory
            else driver.output_directory,
            self.options.run_id or driver.run_id or default_run_id(),
            self.options.cell_id or driver.cell_id,
        )
        self.rundir = RunDirectory(
            root, self.timeline, len(scenario.modules) + len(scenario.services)
        )
        # Placeholders such as {dataDir} need the run directory's paths: fill them in now.
        self._module_dirs = scenario.modules_with_dirs
        self.scenario = scenario = scenario.with_placeholders(self.rundir.placeholder_values)
        self.plan = Plan(scenario)
        self.runner = runner or default_runner(
            {module.type for module in scenario.modules},
            {"SIMBA_RUN_DIR": str(root)},
            parsl_directory=self.rundir.files.parsl,
        )
        self.state = RunState(
            common_data=scenario.common_data,
            modules={m.name: ModuleState(module_data=m.module_data) for m in scenario.modules},
        )
        self._started = 0.0
        self._replay: Callable[[Call], bool] = lambda call: False
        self._trace: TraceWriter | None = None
        self._boundary: Checkpoint | None = None
        self._saved_at = 0.0
        self._signal: int | None = None
        self._replay_offset: int | None = None
        """While resuming and before a call executes: the trace offset of the loaded checkpoint."""
        self._stopping = False
        self.summary: dict[str, Any] | None = None
        """What ``summary.json`` says, once the run has ended (also after a failure)."""
        self._lock = threading.RLock()
        self.jobs = max(1, self.options.jobs or os.cpu_count() or 1)
        self._pool: ThreadPoolExecutor | None = None
        self._meanwhile: Callable[[], None] | None = None
        self._deferring = False
        """Serial batches: events wait in ``_pending`` until the next call has started."""
        self._pending: deque[Callable[[], None]] = deque()
        self._overlap_error: BaseException | None = None
        self._speculated: ConfigAhead | None = None
        """The upcoming call's config as written ahead, while the previous call ran."""
        self._failure: ServiceError | None = None
        """Set from a service's watcher thread when the service ended on its own."""
        self.services = ServiceHost(
            scenario.services,
            self.rundir,
            environment={**os.environ, "SIMBA_RUN_DIR": str(root)},
            emit=self.emit,
            on_failure=self._on_service_failure,
            cache_directory=self.options.cache_directory,
        )

    # -- the loop ------------------------------------------------------------------------

    def run(self) -> RunResult:
        """Run (or resume) the scenario; raises a :class:`SimbaError` if it cannot finish."""
        opening = open_run(
            self.scenario,
            self.rundir,
            resume=self.options.resume is not None,
            overwrite=self.options.overwrite,
            timeout=self.options.timeout,
        )
        position, self._replay = opening.position, opening.replay
        if opening.state is not None:
            self.state, self._replay_offset = opening.state, opening.replay_offset
        for name in self._module_dirs:
            self.rundir.module_dirs(name).create()
        self._started = time.perf_counter()
        self._trace = TraceWriter(self.rundir.trace_file)
        self.observers.append(self._trace)
        self.observers.append(self.services)
        self._mark_boundary(position, self._replay_offset, force=True)
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
                calls_done=self.state.calls_done + self._carried_over(position),
            )
        )
        error: SimbaError | None = None
        try:
            with SignalForwarding(self._on_signal), self.runner:
                self.services.start()  # before the first start call, in priority order
                for batch, following in _with_next(
                    self.plan.batches_from(position.mode, position.tick)
                ):
                    self._run_batch(batch, following)
                    boundary = _position(following, self.timeline.final_tick)
                    self._later(partial(self._mark_boundary, boundary, self._replay_offset))
                self._catch_up()
                self.services.stop()  # after the last end call; raises if one ended early
        except SimbaError as exc:
            error = exc
            raise
        except OSError as exc:  # a full disk, a lost permission: say so, no traceback
            error = SimbaError(
                f"cannot go on writing in {self.rundir.root}: {exc}; fix that (free space, "
                f"permissions), then continue with 'simba run --resume {self.rundir.root}'"
            )
            raise error from exc
        except Exception as exc:  # a bug: summary.json must not say success
            error = SimbaError(f"internal error: {exc!r}")
            raise
        finally:
            self._catch_up()
            self.services.close()
            if self._pool is not None:
                self._pool.shutdown()
            if self._speculated is not None:  # written ahead for a call that never came
                with contextlib.suppress(OSError):
                    self._speculated.paths_and_config[0].unlink()
            self.rundir.close()
            self._finish(error)
            self.observers.remove(self._trace)
            self.observers.remove(self.services)
            self._trace.close()
            self.rundir.unlock()
        return RunResult(
            run_dir=self.rundir.root,
            calls=self.state.calls_done,
            wall_time=time.perf_counter() - self._started,
            common_data=self.state.common_data,
            module_data={name: m.module_data for name, m in self.state.modules.items()},
        )

    def emit(self, event: Event) -> None:
        """Give ``event`` to every observer; never two events at once."""
        with self._lock:
            for observer in self.observers:
                observer(event)

    # -- what waits for the next call ------------------------------------------------------
    #
    # Between two calls of a serial batch only what decides the next call is done: read
    # the status, merge it, start the next module.  Events (and so the trace record), the
    # checkpoint boundary and the next call's directory and config follow while that
    # module runs (``_overlap``, the runner's ``meanwhile``), when the driver would only
    # wait.  Events keep their order; everything pending is done before the run ends.

    def _post(self, event: Event) -> None:
        """Emit ``event``: at once, or in a serial batch once the next call has started."""
        if self._deferring:
            self._pending.append(partial(self.emit, event))
        else:
            self.emit(event)

    def _later(self, work: Callable[[], None]) -> None:
        self._pending.append(work)
        if not self._deferring:
            self._catch_up()

    def _catch_up(self) -> None:
        """Do the pending work in order (what raises leaves the rest pending)."""
        pending = self._pending
        while pending:
            pending.popleft()()

    def _overlap(self, upcoming: Callable[[], Upcoming | None]) -> Callable[[], None]:
        """The ``meanwhile`` of a serial call: catch up, then write the next call's config."""

        def meanwhile() -> None:
            try:
                self._catch_up()
                following = upcoming()
                if following is not None:
                    with contextlib.suppress(OSError):  # then the call writes it, or says why
                        self._speculate(following)
            except BaseException as exc:  # raised once the call has ended (see _execute)
                self._overlap_error = exc

        return meanwhile

    def _speculate(self, upcoming: Upcoming) -> None:
        """Write ``upcoming``'s config as it will be if the running call changes nothing.

        The running call's own module gets the last-run values the call will give it;
        commonData and moduleData are taken as they are.  If the call's status changes
        them, the config is written again; if not, the next module starts at once.
        """
        call = upcoming.call
        if self._replay(call) or not self.rundir.prepare(call):
            return  # replayed, or a directory of an earlier driver: leave its files alone
        module_state = self.state.modules[call.module.name]
        if upcoming.after is not None:
            module_state = dataclasses.replace(
                module_state, last_run_tick=upcoming.after.tick, last_run_time=upcoming.now
            )
        view = upcoming.view
        paths_and_config = self._config(
            call, self.rundir.call_dir(call), upcoming.time, view, module_state
        )
        write_json_new(paths_and_config[0], paths_and_config[2])
        self._speculated = ConfigAhead(
            call,
            view,
            module_state.module_data,
            (module_state.last_run_tick, module_state.last_run_time),
            self.services.documents,
            paths_and_config,
        )

    def _carried_over(self, position: Position) -> int:
        """How many calls from ``position`` on this run takes from earlier drivers.

        They are the calls a resumed run replays (and those continueFromTick takes
        over): whole batches, then part of one at most, because a driver finishes a
        batch before it starts the next.  With the checkpoint's count they give the
        number of successful calls before this driver executes any, so a counter built
        on them (``jobsCompleted``) never goes down across a restart.
        """
        count = 0
        for batch in self.plan.batches_from(position.mode, position.tick):
            replayed = sum(1 for call in batch.calls if self._replay(call))
            count += replayed
            if replayed < len(batch.calls):
                break
        return count

    def _preparer(self, batch: Batch) -> Callable[[], None]:
        """Work for the runner to do while a module runs: make ``batch``'s files ready."""

        def prepare() -> None:
            with contextlib.suppress(OSError):  # then directory() makes it, or says why
                self.rundir.prepare(batch.calls[0])

        return prepare

    def _take_meanwhile(self) -> Callable[[], None] | None:
        with self._lock:
            meanwhile, self._meanwhile = self._meanwhile, None
        return meanwhile

    def _run_batch(self, batch: Batch, following: Batch | None) -> None:
        current_time = self.timeline.time(batch.tick)
        concurrent = self.jobs > 1 and self.plan.dependency_mode and len(batch.calls) > 1
        self._deferring = not concurrent
        self._post(
            TickStarted(
                mode=batch.mode.value,
                tick=batch.tick,
                time=current_time,
                call_count=len(batch.calls),
            )
        )
        if concurrent:
            self._catch_up()
            self._meanwhile = None if following is None else self._preparer(following)
            self._run_concurrently(batch, current_time)
            return
        base = self.state.common_data
        done: list[tuple[str, CommonUpdate]] = []
        calls = batch.calls
        for position, call in enumerate(calls):
            view = self._view(call, position, base, done)
            self._meanwhile = self._overlap(
                partial(self._upcoming, batch, position, following, base, done, current_time)
            )
            update = self._call(call, current_time, view)
            done.append((call.module.name, update))
            self.state.common_data = apply_updates(self.state.common_data, (update,))

    def _upcoming(
        self,
        batch: Batch,
        position: int,
        following: Batch | None,
        base: Mapping[str, Any] | None,
        done: list[tuple[str, CommonUpdate]],
        current_time: datetime,
    ) -> Upcoming | None:
        """The call after ``batch.calls[position]``, with what its config will hold if that
        call changes nothing (asked while it runs, before its update is in ``done``)."""
        running = batch.calls[position]
        if position + 1 < len(batch.calls):
            call = batch.calls[position + 1]
            at, view = current_time, self._view(call, position + 1, base, done)
        elif following is not None:
            call = following.calls[0]
            at, view = self.timeline.time(following.tick), self.state.common_data
        else:
            return None
        after = running if call.module.name == running.module.name else None
        return Upcoming(call, at, view, after, current_time)

    def _view(
        self,
        call: Call,
        position: int,
        base: Mapping[str, Any] | None,
        done: list[tuple[str, CommonUpdate]],
    ) -> Mapping[str, Any] | None:
        """The commonData ``call`` sees: the calls before it in the batch that it depends on."""
        if len(call.sees) == position:  # sees every earlier call: the running state
            return self.state.common_data
        return apply_updates(base, (u for name, u in done if name in call.sees))

    def _run_concurrently(self, batch: Batch, current_time: datetime) -> None:
        """Run a batch's calls as their dependencies allow, up to ``jobs`` at once.

        A call starts once every call it ``sees`` has finished; its config gets the
        tick-start commonData plus exactly those calls' updates in serial order, and the
        batch's updates are applied in serial order at the end, so the results cannot
        differ from a serial run.  The first failure stops the other calls.
        """
        from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="simba-call")
        self.rundir.directory(batch.calls[0])  # one directory per batch, made here only
        base = self.state.common_data
        order = [call.module.name for call in batch.calls]
        updates: dict[str, CommonUpdate] = {}
        waiting = list(batch.calls)
        running: dict[Future[CommonUpdate], Call] = {}
        failure: BaseException | None = None
        while waiting or running:
            for call in list(waiting):
                if failure is not None or len(running) >= self.jobs:
                    break
                if call.sees.issubset(updates):
                    view = apply_updates(base, (updates[n] for n in order if n in call.sees))
                    running[self._pool.submit(self._call, call, current_time, view)] = call
                    waiting.remove(call)
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                call = running.pop(future)
                try:
                    updates[call.module.name] = future.result()
                except _Stopped:
                    pass
                except BaseException as exc:
                    if failure is None:
                        failure = exc
                        self._stopping = True
                        self.runner.cancel()
            if failure is not None:
                waiting.clear()
        if failure is not None:
            raise failure
        self.state.common_data = apply_updates(base, (updates[n] for n in order))

    def _call(
        self, call: Call, current_time: datetime, common_view: Mapping[str, Any] | None
    ) -> CommonUpdate:
        module = call.module
        module_state = self.state.modules[module.name]
        replay = self._replay(call)
        if replay:
            self._catch_up()  # the boundary's snapshot comes before this call's effects
        directory = self.rundir.call_dir(call) if replay else self.rundir.directory(call)
        speculated, self._speculated = self._speculated, None
        written = speculated is not None and speculated.holds(
            call, common_view, module_state, self.services.documents
        )
        if speculated is not None and written:
            config_path, status_path, config = speculated.paths_and_config
        else:
            config_path, status_path, config = self._config(
                call, directory, current_time, common_view, module_state
            )
        if replay:
            status = self._replayed_status(call, status_path)
            module_state.calls += 1
        else:
            status = self._execute(
                call, config, config_path, status_path, directory, module_state, written=written
            )
        update, warnings = common_update(module, status, self.scenario.common_data, config)
        for warning in warnings:
            self._post(RunWarning(module=module.name, tick=call.tick, message=warning))
        if status.module_data is not None:
            module_state.module_data = status.module_data
        module_state.last_run_tick = call.tick
        module_state.last_run_time = current_time
        with self._lock:
            self.state.calls_done += 1
        return update

    def _config(
        self,
        call: Call,
        directory: Path,
        current_time: datetime,
        common_view: Mapping[str, Any] | None,
        module_state: ModuleState,
    ) -> tuple[Path, Path, dict[str, Any]]:
        """The config path, status path and config document of ``call``."""
        index = call.module.index
        config_path = self.rundir.config_path(directory, index)
        status_path = self.rundir.status_path(directory, index)
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
            services=self.services.documents,
        )
        return config_path, status_path, config

    def _replayed_status(self, call: Call, status_path: Path) -> Status:
        try:
            return read_status(status_path)
        except StatusProblem as exc:
            raise CheckpointError(
                f"cannot carry on the earlier run: module {call.module.name!r} "
                f"({describe(call)}) finished there, but {exc}"
            ) from None

    def _execute(
        self,
        call: Call,
        config: Mapping[str, Any],
        config_path: Path,
        status_path: Path,
        directory: Path,
        module_state: ModuleState,
        *,
        written: bool = False,
    ) -> Status:
        """Run ``call`` with its retries; its status, or raise its error.

        ``written``: the config is in place already (written ahead while the previous
        call ran, and nothing has changed since).
        """
        module = call.module
        timeout = module.timeout if module.timeout is not None else self.options.timeout
        attempts = module.retries + 1
        # Every call the earlier drivers recorded comes before this one, so it is in the state.
        self._replay_offset = None
        for attempt in range(1, attempts + 1):
            self._check_stop()
            rundir = self.rundir
            if attempt > 1 or not rundir.made_here:  # afresh, whatever a module did to it
                write_json(config_path, config)
            elif not written:
                write_json_new(config_path, config)  # nothing reads it yet: no rename needed
            if attempt > 1 or not rundir.untouched:
                status_path.unlink(missing_ok=True)  # a stale status must never count
            stdout_path, stderr_path = self.rundir.output_paths(directory, module.index, attempt)
            self._post(
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
                    meanwhile=self._take_meanwhile(),
                )
            )
            if self._deferring:
                self._catch_up()  # if the runner had no use for meanwhile
                failed, self._overlap_error = self._overlap_error, None
                if failed is not None:
                    raise failed
            self._check_stop()  # a call cut off by a signal is not a module failure
            for level, text in result.lines:
                self._post(ModuleLine(module=module.name, tick=call.tick, level=level, text=text))
            verdict = judge(call, result, status_path, stderr_path, timeout)
            error = verdict if isinstance(verdict, Failure) else None
            module_state.calls += 1
            module_state.wall_time += result.wall_time
            module_state.max_wall_time = max(module_state.max_wall_time, result.wall_time)
            self._post(
                CallFinished(
                    module=module.name,
                    mode=call.mode.value,
                    tick=call.tick,
                    target_tick=call.target_tick,
                    attempt=attempt,
                    outcome=error.outcome if error else "success",
                    exit_code=result.exit_code,
                    wall_time=result.wall_time,
                    started_at=started - self._started,
                    reason=None if error is None else str(error.error).partition("\n")[0],
                )
            )
            if error is None:
                assert isinstance(verdict, Status)
                return verdict
            module_state.failures += 1
            if attempt == attempts:
                raise error.error
            delay = min(BACKOFF * 2 ** (attempt - 1), BACKOFF_MAX)
            self._post(
                RunWarning(
                    module=module.name,
                    tick=call.tick,
                    message=f"attempt {attempt} of {attempts} failed; retrying in {delay:g} s",
                )
            )
            self._catch_up()
            time.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    # -- checkpoints and signals -----------------------------------------------------------

    def _mark_boundary(
        self, position: Position, replay_offset: int | None, *, force: bool = False
    ) -> None:
        """Remember the state between two batches; save it if a second has passed.

        ``replay_offset`` is the engine's ``_replay_offset`` at the boundary (the mark
        itself may come later, while the next call runs: no state changes meanwhile).
        """
        assert self._trace is not None
        state = self.state
        self._boundary = Checkpoint(
            fingerprint=self.scenario.fingerprint,
            position=position,
            # Until this driver executes a call, the earlier drivers' trace records after the
            # loaded checkpoint are still needed to replay their calls on the next resume.
            trace_offset=self._trace.position if replay_offset is None else replay_offset,
            state=RunState(
                common_data=state.common_data,
                modules={n: dataclasses.replace(m) for n, m in state.modules.items()},
                calls_done=state.calls_done,
            ),
        )
        now = time.monotonic()
        if force or now - self._saved_at >= CHECKPOINT_INTERVAL:
            self._save_checkpoint()
            self._saved_at = now

    def _save_checkpoint(self) -> None:
        if self._boundary is not None:
            save_checkpoint(self.rundir.checkpoint_file, self._boundary)

    def _on_signal(self, signum: int) -> None:
        if self._signal is None:
            self._signal = signum
            self.runner.cancel()

    def _on_service_failure(self, error: ServiceError) -> None:
        """A service ended on its own (called from its watcher thread): stop the calls now."""
        if self._failure is None:
            self._failure = error
            self.runner.cancel()

    def _check_stop(self) -> None:
        """Raise if the run is stopping: for a signal, or because another call failed."""
        if self._failure is not None:
            raise self._failure
        if self._stopping and self._signal is None:
            raise _Stopped
        if self._signal is not None:
            name = signal_name(self._signal)
            raise RunInterrupted(
                f"stopped by {name}; the run can be continued with "
                f"'simba run --resume {self.rundir.root}'",
                signal_number=self._signal,
            )

    def _finish(self, error: SimbaError | None) -> None:
        self._deferring = False
        self._catch_up()
        self._save_checkpoint()
        wall_time = time.perf_counter() - self._started
        outcome = (
            "success"
            if error is None
            else "interrupted"
            if isinstance(error, RunInterrupted)
            else "failed"
        )
        summary = {
            "simba": __version__,
            "runId": self.rundir.root.name,
            "runDirectory": str(self.rundir.root),
            "outcome": outcome,
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
        if self.scenario.services:
            summary["services"] = self.services.summary()
        write_json(self.rundir.summary_file, summary)
        self.summary = summary
        self.emit(
            RunFinished(
                run_dir=self.rundir.root,
                outcome=outcome,
                calls=self.state.calls_done,
                wall_time=wall_time,
                error=str(error) if error else None,
            )
        )


class _Stopped(Exception):
    """A call was cut off because another call of its batch failed."""


def _position(batch: Batch | None, final_tick: int) -> Position:
    if batch is None:
        return Position(mode="done", tick=final_tick)
    return Position(mode=batch.mode.value, tick=batch.tick)


def _with_next(batches: Iterator[Batch]) -> Iterator[tuple[Batch, Batch | None]]:
    batch = next(batches, None)
    while batch is not None:
        following = next(batches, None)
        yield batch, following
        batch = following


def run(
    scenario: Scenario | str | Path,
    *,
    observers: Iterable[Observer] = (),
    **options: Any,
) -> RunResult:
    """Load (if given a path) and run a scenario; raises a :class:`SimbaError` on failure."""
    from simba.scenario.loader import load_scenario

    loaded = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    return Engine(loaded, RunOptions(**options), observers).run()


def resume(run_dir: str | Path, *, observers: Iterable[Observer] = (), **options: Any) -> RunResult:
    """Continue the run in ``run_dir`` from its last checkpoint, with its own scenario."""
    from simba.scenario.loader import load_scenario

    source, run_options = resume_options(Path(run_dir), **options)
    return Engine(load_scenario(source), run_options, observers).run()


def resume_options(
    run_dir: Path, *, timeout: float | None = None, jobs: int | None = None
) -> tuple[Path, RunOptions]:
    """The scenario path and options with which to resume the run in ``run_dir``."""
    directory = run_dir.resolve()
    source, stored_timeout = resume_source(directory)
    chosen = timeout if timeout is not None else stored_timeout
    return source, RunOptions(resume=directory, timeout=chosen, jobs=jobs)
