"""The run loop: plan -> config -> runner -> status -> merge, emitting events.

The :class:`Engine` owns the :class:`~simba.engine.state.RunState` and goes through the
plan batch by batch, and stops the run at the first failed call (after its retries).
It checkpoints at batch boundaries (:class:`~simba.engine.checkpoint.Boundaries`), and
it writes ``summary.json`` in every outcome (:mod:`simba.engine.summary`).  On
SIGINT/SIGTERM it stops the running module processes, checkpoints and raises
:class:`~simba.errors.RunInterrupted`.  It never prints; observers render its events.

Its satellites: where a run starts is :mod:`simba.engine.start`'s business; a call's
attempts and retries :mod:`simba.engine.attempts`'; its config
:mod:`simba.engine.configs`'; what waits for the next call (events, the boundary, the
next config) :mod:`simba.engine.lookahead`'; a batch run as its dependencies allow
:mod:`simba.engine.parallel`'.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from simba._version import __version__
from simba.engine.attempts import Attempts
from simba.engine.checkpoint import Boundaries, Position
from simba.engine.configs import ConfigWriter
from simba.engine.journal import TraceWriter
from simba.engine.lookahead import CallDirectories, LookAhead, Upcoming
from simba.engine.options import RunOptions, RunResult
from simba.engine.parallel import run_concurrently
from simba.engine.protocol import common_update
from simba.engine.recording import merged, open_record
from simba.engine.rundir import RunDirectory
from simba.engine.services import ServiceHost
from simba.engine.signals import SignalForwarding, Stopping
from simba.engine.start import (
    Opening,
    carried_over,
    open_run,
    position_before,
    replayed_status,
    run_root,
    with_next,
)
from simba.engine.state import CommonUpdate, ModuleState, RunState, apply_updates
from simba.engine.summary import RunSummary, SummaryFile, cannot_write, summarise
from simba.errors import ScenarioError, SimbaError
from simba.events import Event, Observer, RunFinished, RunStarted, RunWarning, TickStarted
from simba.leftovers import describe_leftovers, stop_leftovers
from simba.plan import Batch, Call, Plan
from simba.record.writer import Recorder
from simba.runners.base import Runner
from simba.runners.router import default_runner
from simba.scenario import Scenario

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor


class Engine:
    """One run of a scenario: :meth:`run` it once."""

    _record: Recorder
    """The run database's recorder, from the moment the directory is open."""

    def __init__(
        self,
        scenario: Scenario,
        options: RunOptions | None = None,
        observers: Iterable[Observer] = (),
        runner: Runner | None = None,
    ) -> None:
        self.scenario = scenario
        self.options = options = options or RunOptions()
        self.observers = list(observers)
        self.timeline = scenario.timeline
        root = run_root(scenario, options)
        self.rundir = RunDirectory.for_run(root, scenario, options)
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
        self._boundaries = Boundaries(self.rundir.checkpoint_file, scenario.fingerprint)
        self._replay_offset: int | None = None
        """While resuming and before a call executes: the trace offset of the loaded checkpoint."""
        self._summary_file = SummaryFile(self.rundir.summary_file)
        self.summary: RunSummary | None = None
        """What ``summary.json`` says, once the run has ended (also after a failure)."""
        self._lock = threading.RLock()
        self.jobs = max(1, options.jobs or os.cpu_count() or 1)
        self._pool: ThreadPoolExecutor | None = None
        self._stop = Stopping(self.runner.cancel, root)
        self.services = ServiceHost(
            scenario.services,
            self.rundir,
            environment={**os.environ, "SIMBA_RUN_DIR": str(root)},
            emit=self.emit,
            on_failure=self._stop.on_service_failure,
            cache_directory=options.cache_directory,
        )
        self._configs = ConfigWriter(self.rundir, self.services, seed=scenario.driver.seed)
        self._ahead = LookAhead(self.emit, CallDirectories(self.rundir), self._configs)
        self._attempts = Attempts(
            runner=self.runner,
            lookahead=self._ahead,
            check_stop=self._stop.check,
            timeout=options.timeout,
        )

    # -- the loop ------------------------------------------------------------------------

    def run(self) -> RunResult:
        """Run (or resume) the scenario; raises a :class:`SimbaError` if it cannot finish."""
        opening = self._open_directory()
        error: SimbaError | None = None
        try:
            position = self._begin(opening)
            with SignalForwarding(self._stop.on_signal), self.runner:
                self.services.start()  # before the first start call, in priority order
                for batch, following in with_next(
                    self.plan.batches_from(position.mode, position.tick)
                ):
                    self._run_batch(batch, following)
                    boundary = position_before(following, self.timeline.final_tick)
                    self._ahead.later(partial(self._mark_boundary, boundary, self._replay_offset))
                self._ahead.catch_up()
                self.services.stop()  # after the last end call; raises if one ended early
        except SimbaError as exc:
            error = exc
            raise
        except OSError as exc:  # a full disk, a lost permission: say so, no traceback
            error = cannot_write(self.rundir.root, exc)
            raise error from exc
        except Exception as exc:  # a bug: summary.json must not say success
            error = SimbaError(f"internal error: {exc!r}")
            raise
        finally:
            late = self._close(error)
            if error is None and late is not None:  # the run went well, its last writes not
                raise late from late.__cause__
        assert self.summary is not None
        return RunResult(
            run_dir=self.rundir.root,
            calls=self.state.calls_done,
            wall_time=time.perf_counter() - self._started,
            common_data=self.state.common_data,
            module_data={name: m.module_data for name, m in self.state.modules.items()},
            summary=self.summary,
        )

    def _open_directory(self) -> Opening:
        """Create, resume or continue the run directory and lock it (no summary before);
        first, refuse a scenario whose SLURM modules could not submit from here."""
        if problems := self.scenario.missing_submitters():
            raise ScenarioError(problems)
        return open_run(
            self.scenario,
            self.rundir,
            resume=self.options.resume is not None,
            overwrite=self.options.overwrite,
            timeout=self.options.timeout,
        )

    def _begin(self, opening: Opening) -> Position:
        """Start the trace and the first checkpoint, emit :class:`RunStarted`; where to begin."""
        self._started = self._attempts.started = time.perf_counter()
        self._summary_file.reserve_space()
        position, self._replay = opening.position, opening.replay
        if opening.state is not None:
            self.state, self._replay_offset = opening.state, opening.replay_offset
        for name in self._module_dirs:
            self.rundir.module_dirs(name).create()
        self._record = record = open_record(self.scenario, self.rundir, self.options, opening)
        self._trace = TraceWriter(self.rundir.trace_file)
        self.observers.extend((self._trace, self._record, self.services))
        self._boundaries.before_save, self._attempts.documents = record.commit, record.document
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
                calls_done=self.state.calls_done + carried_over(self.plan, position, self._replay),
            )
        )
        return position

    def _close(self, error: SimbaError | None) -> SimbaError | None:
        """Whatever the outcome: stop the services, tidy up, summarise, unlock.

        A write that fails here (a full disk) does not hide ``error``; without one, its
        "cannot go on writing" error is returned, and the summary says so.
        """
        late: SimbaError | None = None
        for step in (
            self._ahead.catch_up,
            self.services.close,
            self._shutdown_pool,
            self._ahead.close,
            self._ahead.finish,
            self._boundaries.save,
        ):
            try:
                step()
            except OSError as exc:
                late = late or cannot_write(self.rundir.root, exc)
        late = self._finish(error or late, self._stop_leftovers()) or late
        records = (self._trace, getattr(self, "_record", None))  # none if it could not open
        for observer in (*records, self.services):
            if observer in self.observers:
                self.observers.remove(observer)
        for record in records:
            if record is not None:
                with contextlib.suppress(OSError, sqlite3.Error):
                    record.close()
        self.rundir.unlock()
        return late

    def _shutdown_pool(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()

    def emit(self, event: Event) -> None:
        """Give ``event`` to every observer; never two events at once."""
        with self._lock:
            for observer in self.observers:
                observer(event)

    # -- batches and calls -----------------------------------------------------------------

    def _run_batch(self, batch: Batch, following: Batch | None) -> None:
        current_time = self.timeline.time(batch.tick)
        concurrent = self.jobs > 1 and self.plan.dependency_mode and len(batch.calls) > 1
        ahead = self._ahead
        ahead.serial(not concurrent)
        calls = batch.calls
        ahead.post_made(  # made while the first call runs
            partial(
                TickStarted,
                mode=batch.mode.value,
                tick=batch.tick,
                time=current_time,
                call_count=len(calls),
            )
        )
        if concurrent:
            ahead.catch_up()
            ahead.prepare_ahead(None if following is None else following.calls[0])
            self._run_concurrently(batch, current_time)
            return
        base = self.state.common_data
        done: list[tuple[str, CommonUpdate]] = []
        for position, call in enumerate(calls):
            view = self._view(call, position, base, done)
            ahead.write_ahead(
                partial(self._upcoming, batch, position, following, base, done, current_time)
            )
            update = self._call(call, current_time, view, position)
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
        call changes nothing (asked while it runs, before its update is in ``done``);
        ``None`` if there is none or it is replayed (its files are an earlier driver's)."""
        running = batch.calls[position]
        if position + 1 < len(batch.calls):
            call = batch.calls[position + 1]
            at, view = current_time, self._view(call, position + 1, base, done)
        elif following is not None:
            call = following.calls[0]
            at, view = self.timeline.time(following.tick), self.state.common_data
        else:
            return None
        if self._replay(call):
            return None
        module_state = self.state.modules[call.module.name]
        if call.module.name == running.module.name:  # the running call sets its last run
            module_state = dataclasses.replace(
                module_state, last_run_tick=running.tick, last_run_time=current_time
            )
        return Upcoming(call, at, view, module_state)

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
        """Run ``batch`` as its dependencies allow (:func:`run_concurrently`)."""
        from concurrent.futures import ThreadPoolExecutor

        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="simba-call")
        self._ahead.directories.enter(batch.calls[0])  # one directory per batch, made here only
        base = self.state.common_data
        updates = run_concurrently(
            batch,
            lambda call, view: self._call(call, current_time, view, batch.calls.index(call)),
            base,
            pool=self._pool,
            jobs=self.jobs,
            on_failure=self._stop.stop_batch,
        )
        self.state.common_data = apply_updates(base, updates)

    def _call(
        self, call: Call, current_time: datetime, view: Mapping[str, Any] | None, slot: int
    ) -> CommonUpdate:
        module = call.module
        module_state = self.state.modules[module.name]
        replay = self._replay(call)
        if replay:
            self._ahead.catch_up()  # the boundary's snapshot comes before this call's effects
            directory = self.rundir.call_dir(call)
        else:
            directory = self._ahead.directories.enter(call)
        config = self._ahead.take_config(call, view, module_state, self.services.documents)
        written = config is not None
        if config is None:
            config = self._configs.build(call, directory, current_time, view, module_state)
        if replay:
            status = replayed_status(call, config[1])
            module_state.calls += 1
        else:
            # Every call the earlier drivers recorded comes before this one: it is in the state.
            self._replay_offset = None
            status = self._attempts.run(
                call, config, directory, module_state, written=written, slot=slot
            )
        update, warnings = common_update(module, status, self.scenario.common_data, config[2])
        for warning in warnings:
            self._ahead.post(RunWarning(module=module.name, tick=call.tick, message=warning))
        row = (call, slot, current_time, update, status.module_data, replay)  # made later
        self._ahead.later(lambda: self._record.merged(merged(*row)))
        if status.module_data is not None:
            module_state.module_data = status.module_data
        module_state.last_run_tick = call.tick
        module_state.last_run_time = current_time
        with self._lock:
            self.state.calls_done += 1
        return update

    # -- checkpoints and the end -----------------------------------------------------------

    def _mark_boundary(
        self, position: Position, replay_offset: int | None, *, force: bool = False
    ) -> None:
        """Remember the state between two batches; save it if a second has passed.

        ``replay_offset`` is the engine's ``_replay_offset`` at the boundary (the mark
        itself may come later, while the next call runs: no state changes meanwhile).
        """
        assert self._trace is not None
        # Until this driver executes a call, the earlier drivers' trace records after the
        # loaded checkpoint are still needed to replay their calls on the next resume.
        offset = self._trace.position if replay_offset is None else replay_offset
        self._boundaries.mark(position, self.state, offset, force=force)

    def _stop_leftovers(self) -> tuple[str, ...]:
        """Stop what the run's modules left running (:func:`stop_leftovers`) and say so."""
        leftovers = tuple(map(str, stop_leftovers(self.rundir.root)))
        if leftovers:
            self.emit(RunWarning(message=describe_leftovers(leftovers)))
        return leftovers

    def _finish(
        self, error: SimbaError | None, leftovers: tuple[str, ...] = ()
    ) -> SimbaError | None:
        """Write ``summary.json`` and emit :class:`RunFinished`; if the summary cannot be
        written, the "cannot go on writing" error (the run's outcome if it had none)."""
        wall_time = time.perf_counter() - self._started
        timeline = self.timeline
        self.summary = summary = summarise(
            version=__version__,
            run_directory=self.rundir.root,
            error=error,
            ticks=(timeline.initial_tick, timeline.final_tick),
            state=self.state,
            planned_calls=self.plan.call_count,
            wall_time=wall_time,
            services=self.services.summary() if self.scenario.services else None,
            leftovers=leftovers,
        )
        late: SimbaError | None = None
        try:
            self._summary_file.write(summary)
        except OSError as exc:
            late = cannot_write(self.rundir.root, exc)
            if error is None:  # no file says success: neither may the result
                self.summary = summary = dataclasses.replace(
                    summary, outcome="failed", error=str(late)
                )
            self._summary_file.write_slim(summary)
        self.emit(
            RunFinished(
                run_dir=self.rundir.root,
                outcome=summary.outcome,
                calls=self.state.calls_done,
                wall_time=wall_time,
                error=summary.error,
            )
        )
        return late
