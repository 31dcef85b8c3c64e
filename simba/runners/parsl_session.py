"""One Parsl DataFlowKernel for a run, and its HighThroughputExecutors.

A :class:`ParslSession` starts the kernel at the first task that needs it, with one
HighThroughputExecutor per distinct executor settings
(:mod:`simba.scenario.parsl_settings`); modules with equal settings share an executor.
Parsl writes its run directory where the session is told (a run's ``.simba/parsl/``).
An executor that Parsl has given up on is replaced for the next task, so ``retries``
work.  ``shutdown`` stops the kernel and its worker blocks, after a normal end, a
failure or a signal; then every process on this machine that a block of this session
started (worker pools, module processes) is killed, so nothing outlives the run.

Parsl is imported only when the first task needs it: it takes about a second.
"""

from __future__ import annotations

import contextlib
import logging
import shlex
import sys
import threading
from collections.abc import Mapping
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from simba.leftovers import kill_holding, kill_marked
from simba.scenario.parsl_settings import ExecutorSettings, LauncherKind, ProviderKind, parameters

logger = logging.getLogger(__name__)

#: Seconds between the strategy's looks at the blocks: the first block starts at its first
#: look (Parsl's default period, 5 s, delays the first call by as much).
STRATEGY_PERIOD = 0.5
#: Environment variable that marks every process a block of this run starts.
RUN_MARKER = "SIMBA_PARSL_RUN"
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

    def job_id(self, label: str, block: str | None) -> str | None:
        """The provider's job id of block ``block`` of executor ``label``, if Parsl knows it."""
        if block is None:
            return None
        with self._lock:
            for executor in self._all:
                if executor.label == label:
                    job = getattr(executor, "blocks_to_job_id", {}).get(block)
                    return None if job is None else str(job)
        return None

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
