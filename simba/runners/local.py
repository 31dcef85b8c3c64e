"""The ``local`` type: one process per call (DESIGN §6).

The process gets its own process group and stdin from /dev/null.  Its stdout and
stderr are streamed to ``stdout_<i>`` / ``stderr_<i>``, each file created when the
first byte arrives (a silent module costs no file creation; nothing is held in
memory), and ``INFO:`` / ``ERROR:`` lines are picked out on the way.  The call
returns the moment the process exits; anything it left in its group is killed, so
no module process outlives its call.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Mapping

from simba.output import Sink
from simba.process import GRACE_PERIOD, Cancellation, ModuleProcess
from simba.runners.base import CallRequest, CallResult, Runner, rusage_of
from simba.scenario import ModuleSpec


class LocalRunner(Runner):
    """Runs calls as local processes; ``environment`` is added to every module's."""

    def __init__(
        self, *, grace_period: float = GRACE_PERIOD, environment: Mapping[str, str] | None = None
    ) -> None:
        self.grace_period = grace_period
        self.environment = dict(environment or {})
        self._environments: dict[str, Mapping[str, str]] = {}
        self._inherited: dict[str, bool] = {}
        self._devnull: int | None = None
        self._cancellation = Cancellation()

    def run(self, request: CallRequest) -> CallResult:
        module = request.module
        started = time.perf_counter()
        if self._devnull is None:  # one /dev/null for every call's stdin, not one each
            self._devnull = os.open(os.devnull, os.O_RDONLY)
        try:
            process = ModuleProcess(
                [*module.argv, str(request.config_path)],
                stdin=self._devnull,
                cwd=module.working_directory,
                env=None if self._inherits(module) else self.module_environment(module),
            )
        except OSError as exc:
            return CallResult(
                exit_code=None,
                wall_time=time.perf_counter() - started,
                error=f"could not be started: {exc}",
            )
        stdout, stderr = Sink(request.stdout_path), Sink(request.stderr_path)
        try:
            if request.meanwhile is not None:
                request.meanwhile()
            outcome = process.supervise(
                stdout,
                stderr,
                timeout=request.timeout,
                wake_fd=self._cancellation.fd,
                grace_period=self.grace_period,
            )
            returncode = process.reap()
        except BaseException:  # SIMBA failed (a full disk): the module must not outlive it
            process.signal_group(signal.SIGKILL)
            process.reap()
            raise
        finally:
            stdout.close()
            stderr.close()
        return CallResult(
            exit_code=returncode if returncode >= 0 else None,
            signal=-returncode if returncode < 0 else None,
            timed_out=outcome.timed_out,
            cancelled=self._cancellation.cancelled,
            wall_time=time.perf_counter() - started,
            lines=(*stdout.found, *stderr.found),
            usage=rusage_of(process.usage),
        )

    def cancel(self) -> None:
        """Stop every running call: SIGTERM to its group now, SIGKILL after the grace period."""
        self._cancellation.cancel()

    def shutdown(self) -> None:
        self._cancellation.close()
        if self._devnull is not None:
            os.close(self._devnull)
            self._devnull = None

    def _inherits(self, module: ModuleSpec) -> bool:
        """Whether ``module``'s environment is SIMBA's own, so its process just inherits it.

        That spares encoding the whole environment for every call; ``simba run`` puts
        ``SIMBA_RUN_DIR`` into its own environment for this.
        """
        inherits = self._inherited.get(module.name)
        if inherits is None:
            added = {**self.environment, **module.env}
            inherits = all(os.environ.get(key) == value for key, value in added.items())
            self._inherited[module.name] = inherits
        return inherits

    def module_environment(self, module: ModuleSpec) -> Mapping[str, str]:
        """SIMBA's environment, plus the runner's, plus the module's own ``env``."""
        environment = self._environments.get(module.name)
        if environment is None:
            environment = self._environments[module.name] = {
                **os.environ,
                **self.environment,
                **module.env,
            }
        return environment
