"""One call's attempts: config in place, run by the runner, judged, retried with backoff.

An attempt that fails is retried after ``BACKOFF * 2**(n-1)`` seconds (at most
``BACKOFF_MAX``) until the module's retries are used up; then its error is raised.
Each attempt is announced (:class:`CallStarted`), its module's ``INFO``/``ERROR``
lines passed on, and its end recorded (:class:`CallFinished`, the trace record) with
the same verdict whatever the back-end (:mod:`simba.engine.verdict`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from simba.engine.configs import CallConfig, ConfigWriter
from simba.engine.lookahead import LookAhead
from simba.engine.protocol import Status
from simba.engine.state import ModuleState
from simba.engine.verdict import Failure, judge
from simba.events import CallFinished, CallStarted, ModeName, ModuleLine, RunWarning
from simba.plan import Call
from simba.record.rows import CallDocuments
from simba.runners.base import CallRequest, CallResult, Runner
from simba.runners.inline import document_text

#: Backoff before retry n is BACKOFF * 2**(n-1) seconds, at most BACKOFF_MAX.
BACKOFF = 0.1
BACKOFF_MAX = 10.0


class Attempts:
    """Runs calls with their retries for one run."""

    def __init__(
        self,
        *,
        runner: Runner,
        lookahead: LookAhead,
        check_stop: Callable[[], None],
        timeout: float | None,
    ) -> None:
        self.runner = runner
        self.lookahead = lookahead
        self.check_stop = check_stop
        """Raises if the run is stopping (a signal, or another call failed)."""
        self.timeout = timeout
        """The timeout of modules that set none."""
        self.started = 0.0
        """When the run started (``time.perf_counter``), for ``CallFinished.started_at``."""
        self.documents: Callable[[CallDocuments], None] = lambda row: None
        """Records an attempt's documents (the run database's, once it is open)."""

    def run(
        self,
        call: Call,
        config: CallConfig,
        directory: Path,
        module_state: ModuleState,
        *,
        written: bool = False,
        slot: int = 0,
    ) -> Status:
        """Run ``call`` with its retries; its status, or raise its error.

        ``written``: the config is in place already (written ahead while the previous
        call ran, and nothing has changed since); ``slot``: the call's place in its batch.
        """
        module = call.module
        timeout = module.timeout if module.timeout is not None else self.timeout
        attempts = module.retries + 1
        lookahead = self.lookahead
        directories = lookahead.directories
        mode: ModeName = call.mode.value
        inline = module.protocol == "inline"
        text = (lookahead.text_of(config) or document_text(config[2])) if inline else None
        for attempt in range(1, attempts + 1):
            self.check_stop()
            stdout_path, stderr_path = self._place(call, config, directory, attempt, written)
            lookahead.post_made(partial(_started, call, attempt, slot, time.time()))
            started = time.perf_counter()
            result = self.runner.run(
                CallRequest(
                    module=module,
                    config_path=config[0],
                    stdout_path=stdout_path,
                    stderr_path=stderr_path,
                    timeout=timeout,
                    meanwhile=lookahead.take_meanwhile(),
                    document=text,
                    in_memory=directories.rundir.in_memory(call),
                )
            )
            lookahead.settle()
            self.check_stop()  # a call cut off by a signal is not a module failure
            outputs = (stdout_path, stderr_path)  # scale: the documents of a journal run
            self._record(call, (config, text), (slot, attempt), result, outputs)
            verdict = self._judge(
                call, (mode, attempt, slot), result, started, config[1], stderr_path, timeout
            )
            _count(module_state, result.wall_time)
            if isinstance(verdict, Status):
                self._warn_unknown(call, verdict, module_state)
                return verdict
            module_state.failures += 1
            if attempt == attempts:
                raise verdict.error
            self._back_off(call, attempt, attempts)
        raise AssertionError("unreachable")  # pragma: no cover

    def _record(
        self,
        call: Call,
        documents: tuple[CallConfig, str | None],
        which: tuple[int, int],
        result: CallResult,
        outputs: tuple[Path, Path],
    ) -> None:
        """Record the attempt's documents, where its files are not its record: at once if
        read from its files (the module's until its next call), else while the next call
        runs (all in memory)."""
        rundir = self.lookahead.directories.rundir

        def record() -> None:
            row = rundir.documents_of(call, documents, which, result, outputs)
            if row is not None:
                self.documents(row)

        if result.stdout is not None:
            self.lookahead.later(record)
        else:
            record()

    def _place(
        self, call: Call, config: CallConfig, directory: Path, attempt: int, written: bool
    ) -> tuple[Path, Path]:
        """Put the attempt's config in place (not for an inline call: it goes on the
        module's stdin) and clear its output files; their paths."""
        module, directories = call.module, self.lookahead.directories
        inline = module.protocol == "inline"
        fresh = not inline and directories.rundir.clear_call(config, module.index, attempt)
        if not inline:
            ConfigWriter.place(
                config,
                attempt,
                made_here=directories.made_here or fresh,
                untouched=directories.untouched or fresh,
                written=written and not fresh,
            )
        stdout_path, stderr_path = directories.rundir.output_paths(directory, module.index, attempt)
        if not directories.made_here:  # an earlier driver's output must not stand beside
            stdout_path.unlink(missing_ok=True)  # this attempt's (a module may write
            stderr_path.unlink(missing_ok=True)  # nothing to one of them)
        return stdout_path, stderr_path

    def _judge(
        self,
        call: Call,
        which: tuple[ModeName, int, int],
        result: CallResult,
        started: float,
        status_path: Path,
        stderr_path: Path,
        timeout: float | None,
    ) -> Status | Failure:
        """Pass on the attempt's lines, judge it, record its end.

        ``which``: the call's mode, the attempt's number and the call's slot.
        """
        module = call.module
        post = self.lookahead.post
        for level, text in result.lines:
            post(ModuleLine(module=module.name, tick=call.tick, level=level, text=text))
        verdict = judge(call, result, status_path, stderr_path, timeout)
        error = verdict if isinstance(verdict, Failure) else None
        mode, attempt, slot = which
        ended_at = time.time()

        def finished() -> CallFinished:  # made when emitted: usage may be read late
            return CallFinished(
                module=module.name,
                mode=mode,
                tick=call.tick,
                target_tick=call.target_tick,
                attempt=attempt,
                outcome=error.outcome if error else "success",
                exit_code=result.exit_code,
                wall_time=result.wall_time,
                started_at=started - self.started,
                reason=None if error is None else str(error.error).partition("\n")[0],
                slot=slot,
                signal=result.signal,
                usage=result.measured_usage(),
                placement=result.placement,
                status_sha256=verdict.sha256 if isinstance(verdict, Status) else None,
                ended_at=ended_at,
            )

        self.lookahead.post_made(finished)
        return verdict

    def _warn_unknown(self, call: Call, status: Status, module_state: ModuleState) -> None:
        """Warn once per module about status keys SIMBA does not know (a typo, perhaps)."""
        new = [key for key in status.unknown if key not in module_state.unknown_status_keys]
        if new:
            module_state.unknown_status_keys.update(new)
            keys = ", ".join(map(repr, new))
            self.lookahead.post(
                RunWarning(
                    module=call.module.name,
                    tick=call.tick,
                    message=f"its status file has {keys}, which SIMBA does not know and "
                    "ignores (it reads status, commonData, moduleData, message and error)",
                )
            )

    def _back_off(self, call: Call, attempt: int, attempts: int) -> None:
        delay = min(BACKOFF * 2 ** (attempt - 1), BACKOFF_MAX)
        self.lookahead.post(
            RunWarning(
                module=call.module.name,
                tick=call.tick,
                message=f"attempt {attempt} of {attempts} failed; retrying in {delay:g} s",
            )
        )
        self.lookahead.catch_up()
        time.sleep(delay)


def _started(call: Call, attempt: int, slot: int, at: float) -> CallStarted:
    return CallStarted(
        module=call.module.name,
        mode=call.mode.value,
        tick=call.tick,
        attempt=attempt,
        target_tick=call.target_tick,
        slot=slot,
        at=at,
    )


def _count(module_state: ModuleState, wall_time: float) -> None:
    """One more attempt of the module, and its wall time."""
    module_state.calls += 1
    module_state.wall_time += wall_time
    module_state.max_wall_time = max(module_state.max_wall_time, wall_time)
