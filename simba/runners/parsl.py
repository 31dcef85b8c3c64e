"""The ``parsl`` type: each call runs as a Parsl ``bash_app`` (DESIGN §6).

One :class:`ParslSession` per run holds one Parsl DataFlowKernel, started at the first
call that needs it, with one HighThroughputExecutor per distinct executor settings
(:mod:`simba.scenario.parsl_settings`); modules with equal settings share an executor.  Parsl
writes its run directory into the run's ``.simba/parsl/``.  ``shutdown`` stops the
kernel and its worker blocks, after a normal end, a failure or a signal; then every
process on this machine that a block of this run started (worker pools, module
processes) is killed, so nothing outlives the run.

A call's bash script sends its output to the call's ``stdout_<i>`` / ``stderr_<i>``,
enters the module's working directory, sets the module's environment and runs the
program with the config path; with a timeout, through coreutils ``timeout``, which
stops the module's process group (SIGTERM, then SIGKILL after the grace period).  The
run directory must therefore be on a file system the workers share.  Results become
the same :class:`CallResult` as a local call's: an exit status, a timeout, or an
``error`` naming what Parsl reported (a lost worker pool, a broken executor).  An
executor that Parsl has given up on is replaced for the next call, so ``retries`` work.

Parsl is imported only when the first call needs it: it takes about a second.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
import signal
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, wait
from pathlib import Path
from typing import Any

from simba.errors import tail_bytes
from simba.process import GRACE_PERIOD, MAX_LINES
from simba.runners.base import CallRequest, CallResult, Runner
from simba.scenario.parsl_settings import ExecutorSettings, LauncherKind, ProviderKind, parameters

logger = logging.getLogger(__name__)

#: Seconds between the strategy's looks at the blocks: the first block starts at its first
#: look (Parsl's default period, 5 s, delays the first call by as much).
STRATEGY_PERIOD = 0.5
#: While waiting for a task, how often to look whether the run was cancelled.
_WAKE_PERIOD = 0.1
#: Environment variable that marks every process a block of this run starts.
RUN_MARKER = "SIMBA_PARSL_RUN"
#: Environment variable that marks the processes of one call.
CALL_MARKER = "SIMBA_PARSL_CALL"
#: What coreutils ``timeout --verbose`` prints when it stops a command.
_TIMEOUT_NOTE = b"timeout: sending signal"
#: How to start a HighThroughputExecutor's interchange: with this Python, so that it is
#: found without the virtual environment on PATH, and ignoring SIGINT, so that Ctrl-C on a
#: terminal (sent to the whole process group) does not kill it before SIMBA has stopped
#: the executor in order.
INTERCHANGE_COMMAND = [
    sys.executable,
    "-c",
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_IGN); "
    "os.execv(sys.executable, [sys.executable, '-m', "
    "'parsl.executors.high_throughput.interchange'])",
]
#: Seconds that stopping Parsl may take before SIMBA stops its parts itself.
CLEANUP_TIMEOUT = 60.0
#: The lines of a Parsl error kept in a message.
_REASON_LINES = 12
#: What Parsl's exceptions for lost workers mean, for messages.
_LOSSES = {
    "BadStateException": "its worker pool (block) failed or was killed",
    "TooManyJobFailuresError": "its worker pool (block) failed or was killed",
    "ManagerLost": "its worker pool stopped answering",
    "WorkerLost": "the worker running it died",
}


def module_command(script: str, stdout: str | None = None, stderr: str | None = None) -> str:
    """The bash_app: the script to run (``stdout``/``stderr`` are for Parsl's own use)."""
    return script


class SessionClosed(Exception):
    """The session was shut down; no more tasks can be submitted."""


class ParslSession:
    """One DataFlowKernel for a run, started on first use, and its executors.

    ``submit`` is safe from several threads.  ``run_dir`` receives Parsl's files;
    ``environment`` is exported to every worker pool (and so to every task).
    """

    def __init__(
        self,
        run_dir: Path,
        *,
        environment: Mapping[str, str] | None = None,
        strategy_period: float = STRATEGY_PERIOD,
    ) -> None:
        self.run_dir = run_dir
        self.environment = {**(environment or {}), RUN_MARKER: str(run_dir)}
        self.strategy_period = strategy_period
        self._dfk: Any = None
        self._current: dict[ExecutorSettings, Any] = {}
        self._all: list[Any] = []
        self._apps: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._closed = False

    def submit(self, settings: ExecutorSettings, script: str) -> tuple[Future[Any], str]:
        """Start ``script`` as a bash_app on the executor of ``settings``; its future and label.

        Raises :class:`SessionClosed` after shutdown, and whatever Parsl raises when it
        cannot start the executor.
        """
        with self._lock:
            if self._closed:
                raise SessionClosed
            executor = self._current.get(settings)
            if executor is not None and executor.bad_state_is_set:
                logger.info("replacing Parsl executor %s, which failed", executor.label)
                executor = None
            if executor is None:
                executor = self._add_executor(settings)
            label = executor.label
            app = self._apps[label]
        return app(script), label

    def _add_executor(self, settings: ExecutorSettings) -> Any:
        from parsl.app.app import bash_app
        from parsl.config import Config
        from parsl.dataflow.dflow import DataFlowKernel

        executor = self._build(settings, self._unique_label(settings.label))
        if self._dfk is None:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            kill_holding(self.run_dir)  # an earlier driver of this run was killed (SIGKILL)
            config = Config(
                executors=[executor],
                run_dir=str(self.run_dir),
                strategy_period=self.strategy_period,
                usage_tracking=0,
                initialize_logging=True,
            )
            self._dfk = DataFlowKernel(config)
        else:
            self._dfk.add_executors([executor])
        self._current[settings] = executor
        self._all.append(executor)
        self._apps[executor.label] = bash_app(
            module_command, data_flow_kernel=self._dfk, executors=[executor.label]
        )
        return executor

    def _unique_label(self, label: str) -> str:
        taken = {executor.label for executor in self._all}
        if label not in taken:
            return label
        number = 2
        while f"{label}-{number}" in taken:
            number += 1
        return f"{label}-{number}"

    def _build(self, settings: ExecutorSettings, label: str) -> Any:
        from parsl.executors import HighThroughputExecutor
        from parsl.launchers import SingleNodeLauncher, SrunLauncher
        from parsl.providers import LocalProvider, SlurmProvider

        provider_settings = settings.provider
        launcher_class: Any = {
            LauncherKind.SINGLE_NODE: SingleNodeLauncher,
            LauncherKind.SRUN: SrunLauncher,
        }[provider_settings.launcher.kind]
        provider_class: Any = {
            ProviderKind.LOCAL: LocalProvider,
            ProviderKind.SLURM: SlurmProvider,
        }[provider_settings.kind]
        provider_arguments = parameters(provider_settings)
        provider_arguments["worker_init"] = self._worker_init(provider_settings.worker_init)
        provider = provider_class(
            launcher=launcher_class(**parameters(provider_settings.launcher)),
            **provider_arguments,
        )
        arguments = parameters(settings)
        arguments["label"] = label
        if provider_settings.kind is ProviderKind.LOCAL and settings.address is None:
            arguments["address"] = "127.0.0.1"  # no need to probe the host's addresses
        return HighThroughputExecutor(
            provider=provider,
            block_error_handler=_fail_once,
            interchange_launch_cmd=INTERCHANGE_COMMAND,
            **arguments,
        )

    def _worker_init(self, user_init: str | None) -> str:
        """Mark the block's processes, and find Parsl's worker pool beside this Python."""
        lines = [f"export {name}={shlex.quote(value)}" for name, value in self.environment.items()]
        bin_dir = Path(sys.executable).parent
        if (bin_dir / "process_worker_pool.py").exists():
            lines.append(f"export PATH={shlex.quote(str(bin_dir))}:$PATH")
        if user_init:
            lines.append(user_init)
        return "\n".join(lines)

    def shutdown(self) -> None:
        """Stop the kernel, its executors and blocks; kill what the blocks left on this machine."""
        with self._lock:
            self._closed = True
            dfk, self._dfk = self._dfk, None
        if dfk is not None:
            for executor in self._all:
                if not _interchange_alive(executor) and not executor.bad_state_is_set:
                    # Parsl would ask the dead interchange to scale in, and wait forever.
                    with contextlib.suppress(Exception):
                        executor.set_bad_state_and_fail_all(RuntimeError("interchange ended"))
                if executor.bad_state_is_set:  # Parsl does not scale these in itself
                    _cancel_blocks(executor)
            cleanup = threading.Thread(target=_cleanup, args=(dfk,), daemon=True)
            cleanup.start()
            cleanup.join(CLEANUP_TIMEOUT)
            if cleanup.is_alive():  # pragma: no cover - Parsl hangs; stop what we can
                logger.error("Parsl did not shut down within %g s", CLEANUP_TIMEOUT)
                for executor in self._all:
                    _cancel_blocks(executor)
                    with contextlib.suppress(Exception):
                        executor.interchange_proc.kill()
        kill_marked(RUN_MARKER, str(self.run_dir))
        kill_holding(self.run_dir)


class ParslRunner(Runner):
    """Runs calls of ``type: parsl`` modules through one :class:`ParslSession`.

    ``parsl_directory`` receives Parsl's own files (the engine gives the run's
    ``.simba/parsl/``); ``environment`` is added to every call's environment and
    exported to every worker pool.
    """

    def __init__(
        self,
        parsl_directory: Path,
        *,
        environment: Mapping[str, str] | None = None,
        grace_period: float = GRACE_PERIOD,
    ) -> None:
        self.environment = dict(environment or {})
        self.grace_period = grace_period
        self.session = ParslSession(parsl_directory, environment=self.environment)
        self._cancelled = False

    def run(self, request: CallRequest) -> CallResult:
        started = time.perf_counter()
        module = request.module
        settings = module.parsl or ExecutorSettings()
        call_id = uuid.uuid4().hex
        script = self.script(request, call_id)
        if self._cancelled:
            return CallResult(exit_code=None, cancelled=True, error="was cancelled")
        try:
            future, label = self.session.submit(settings, script)
        except SessionClosed:
            return CallResult(exit_code=None, cancelled=True, error="was cancelled")
        except Exception as exc:
            return CallResult(
                exit_code=None,
                wall_time=time.perf_counter() - started,
                error=f"could not start its Parsl executor {settings.label!r}: {_reason(exc)}",
            )
        while not future.done():
            wait([future], timeout=_WAKE_PERIOD)
            if self._cancelled and not future.done():
                return CallResult(
                    exit_code=None,
                    cancelled=True,
                    wall_time=time.perf_counter() - started,
                    error="was cancelled",
                )
        wall_time = time.perf_counter() - started
        lines = (*scan_lines(request.stdout_path), *scan_lines(request.stderr_path))
        failure = future.exception()
        if failure is None:
            return CallResult(exit_code=0, wall_time=wall_time, lines=lines)
        return self._failed(request, failure, label, call_id, wall_time, lines)

    def _failed(
        self,
        request: CallRequest,
        failure: BaseException,
        label: str,
        call_id: str,
        wall_time: float,
        lines: tuple[tuple[str, str], ...],
    ) -> CallResult:
        from parsl.app.errors import BashExitFailure

        if not isinstance(failure, BashExitFailure):
            kill_marked(CALL_MARKER, call_id)  # a lost worker pool leaves the module running
            return CallResult(
                exit_code=None,
                wall_time=wall_time,
                lines=lines,
                cancelled=self._cancelled,
                error=f"failed in Parsl executor {label!r}: "
                f"{_LOSSES.get(type(failure).__name__, 'Parsl could not run it')}; "
                f"Parsl says {_reason(failure)}",
            )
        code = failure.exitcode
        if not request.stdout_path.exists():
            return CallResult(
                exit_code=None,
                wall_time=wall_time,
                error=f"could not start on its Parsl worker (exit code {code}): the worker "
                f"cannot write {request.stdout_path}; the run directory must be on a file "
                "system that the workers share",
            )
        if code < 0:
            return CallResult(exit_code=None, signal=-code, wall_time=wall_time, lines=lines)
        timed_out = (
            request.timeout is not None
            and code in (124, 128 + signal.SIGKILL)
            and _TIMEOUT_NOTE in tail_bytes(request.stderr_path, 4096)
        )
        return CallResult(
            exit_code=None if timed_out else code,
            timed_out=timed_out,
            wall_time=wall_time,
            lines=lines,
        )

    def script(self, request: CallRequest, call_id: str) -> str:
        """The bash script of one call."""
        module = request.module
        return bash_script(
            [*module.argv, str(request.config_path)],
            cwd=module.working_directory,
            stdout=request.stdout_path,
            stderr=request.stderr_path,
            environment={**self.environment, **module.env, CALL_MARKER: call_id},
            timeout=request.timeout,
            grace_period=self.grace_period,
        )

    def cancel(self) -> None:
        """Make running calls return at once; ``shutdown`` then stops their processes."""
        self._cancelled = True

    def shutdown(self) -> None:
        self.session.shutdown()


def bash_script(
    argv: Sequence[str],
    *,
    cwd: Path,
    stdout: Path,
    stderr: Path,
    environment: Mapping[str, str],
    timeout: float | None = None,
    grace_period: float = GRACE_PERIOD,
) -> str:
    """A bash script that runs ``argv`` in ``cwd`` with ``environment`` added.

    Its output goes to ``stdout`` / ``stderr`` (one file if they are the same; exit 125
    if they cannot be written, 126 if ``cwd`` cannot be entered).  With a ``timeout``,
    coreutils ``timeout`` stops the program's process group: SIGTERM, then SIGKILL after
    ``grace_period`` (exit 124).
    """
    quote = shlex.quote
    command = list(argv)
    if timeout is not None:
        command = [
            "timeout",
            "--verbose",
            f"--kill-after={grace_period:.3f}s",
            f"{timeout:.3f}s",
            *command,
        ]
    assignments = [f"{name}={value}" for name, value in environment.items()]
    return "\n".join(
        (
            f"exec >{quote(str(stdout))} "
            + ("2>&1" if stderr == stdout else f"2>{quote(str(stderr))}")
            + " || exit 125",
            f"cd {quote(str(cwd))} || exit 126",
            "exec env " + " ".join(map(quote, [*assignments, *command])),
        )
    )


def scan_lines(path: Path) -> list[tuple[str, str]]:
    """The ``INFO:`` / ``ERROR:`` lines of an output file (at most MAX_LINES)."""
    found: list[tuple[str, str]] = []
    try:
        handle = path.open("rb")
    except OSError:
        return found
    with handle:
        for line in handle:
            if line.startswith((b"INFO:", b"ERROR:")):
                level, _, rest = line.decode("utf-8", "replace").partition(":")
                found.append((level, rest.strip()))
                if len(found) >= MAX_LINES:
                    break
    return found


def kill_marked(name: str, value: str) -> int:
    """SIGKILL every process on this machine whose environment has ``name=value``.

    Linux only (reads /proc); never this process.  Returns how many were found.
    """
    marker = f"{name}={value}".encode()
    found = 0
    for pid in _marked(marker):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
            found += 1
    return found


def kill_holding(directory: Path) -> int:
    """SIGKILL every other process on this machine that has a file open under ``directory``.

    This finds what Parsl started from a driver that was killed: the interchange (whose
    environment Parsl's process title hides) keeps its log there.  Linux only.
    """
    prefix = f"{directory}{os.sep}"
    own = os.getpid()
    found = 0
    for entry in _processes():
        if int(entry.name) == own:
            continue
        try:
            holds = any(
                str(descriptor.readlink()).startswith(prefix)
                for descriptor in (entry / "fd").iterdir()
            )
        except OSError:
            continue
        if holds:
            with contextlib.suppress(OSError):
                os.kill(int(entry.name), signal.SIGKILL)
                found += 1
    return found


def _processes() -> Iterator[Path]:
    proc = Path("/proc")
    if proc.is_dir():
        yield from (entry for entry in proc.iterdir() if entry.name.isdigit())


def _marked(marker: bytes) -> Iterator[int]:
    own = os.getpid()
    for entry in _processes():
        if int(entry.name) == own:
            continue
        try:
            if marker in (entry / "environ").read_bytes().split(b"\0"):
                yield int(entry.name)
        except OSError:
            continue


def _cleanup(dfk: Any) -> None:
    try:
        dfk.cleanup()
    except Exception:  # pragma: no cover - Parsl's own failure while stopping
        logger.exception("Parsl did not shut down cleanly")


def _interchange_alive(executor: Any) -> bool:
    process = getattr(executor, "interchange_proc", None)
    return process is None or process.poll() is None


def _fail_once(executor: Any, status: Any) -> None:
    """Parsl's simple block error handler, applied only until the executor has failed.

    Parsl's own handler runs again at every poll of a failed executor and raises there
    (its tasks' futures are already done), which stops the polling of every executor
    added after it, so a replacement executor would never get a block.
    """
    from parsl.jobs.error_handlers import simple_error_handler

    if not executor.bad_state_is_set:
        simple_error_handler(executor, status)


def _cancel_blocks(executor: Any) -> None:
    """Cancel the blocks of an executor in bad state (Parsl leaves them running)."""
    try:
        job_ids = [job for job in executor.blocks_to_job_id.values() if job is not None]
        if job_ids:
            executor.provider.cancel(job_ids)
    except Exception:  # pragma: no cover - best effort while stopping
        logger.exception("could not cancel the blocks of Parsl executor %s", executor.label)


def _reason(exc: BaseException) -> str:
    """Parsl's account of a failure, shortened to its first lines."""
    text = str(exc).strip() or type(exc).__name__
    lines = [line.rstrip() for line in text.splitlines() if line.strip()]
    if len(lines) > _REASON_LINES:
        lines = [*lines[:_REASON_LINES], f"... ({len(lines) - _REASON_LINES} more lines)"]
    return f"{type(exc).__name__}: " + "\n".join(lines)
