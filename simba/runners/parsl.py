"""The ``parsl`` type: each call runs as a Parsl ``bash_app`` (DESIGN §6).

A :class:`ParslRunner` submits every call to one
:class:`~simba.runners.parsl_session.ParslSession` (the run's DataFlowKernel and its
executors).  A call's bash script (:func:`bash_script`) sends its output to the call's
``stdout_<i>`` / ``stderr_<i>``, enters the module's working directory, sets the
module's environment and runs the program with the config path; with a timeout,
through coreutils ``timeout``, which stops the module's process group (SIGTERM, then
SIGKILL after the grace period).  The run directory must therefore be on a file system
the workers share.  Results become the same :class:`CallResult` as a local call's: an
exit status, a timeout, or an ``error`` naming what Parsl reported (a lost worker
pool, a broken executor).
"""

from __future__ import annotations

import dataclasses
import shlex
import signal
import time
import uuid
from collections.abc import Mapping, Sequence
from concurrent.futures import wait
from pathlib import Path

from simba.errors import tail_bytes
from simba.events import Level, Placement
from simba.leftovers import kill_marked
from simba.output import read_module_lines
from simba.process import GRACE_PERIOD
from simba.runners.base import CallRequest, CallResult, Runner
from simba.runners.parsl_session import ParslSession, SessionClosed
from simba.scenario.parsl_settings import ExecutorSettings

#: While waiting for a task, how often to look whether the run was cancelled.
_WAKE_PERIOD = 0.1
#: Environment variable that marks the processes of one call.
CALL_MARKER = "SIMBA_PARSL_CALL"
#: What coreutils ``timeout --verbose`` prints when it stops a command.
_TIMEOUT_NOTE = b"timeout: sending signal"
#: The lines of a Parsl error kept in a message.
_REASON_LINES = 12
#: What Parsl's exceptions for lost workers mean, for messages.
_LOSSES = {
    "BadStateException": "its worker pool (block) failed or was killed",
    "TooManyJobFailuresError": "its worker pool (block) failed or was killed",
    "ManagerLost": "its worker pool stopped answering",
    "WorkerLost": "the worker running it died",
}


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
        self._where = parsl_directory / "where"
        """Where each call's script writes its worker's host and block id."""
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
        if request.meanwhile is not None:
            request.meanwhile()
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
        lines = (*read_module_lines(request.stdout_path), *read_module_lines(request.stderr_path))
        failure = future.exception()
        placement = self._placement(label, call_id)
        if failure is None:
            return CallResult(exit_code=0, wall_time=wall_time, lines=lines, placement=placement)
        result = self._failed(request, failure, label, call_id, wall_time, lines)
        return dataclasses.replace(result, placement=placement)

    def _placement(self, label: str, call_id: str) -> Placement:
        """Where the call ran: the worker's host and block (the script wrote them, see
        :meth:`script`), the block's job id from Parsl; what is unknown is ``None``."""
        path = self._where / call_id
        try:
            host, block = [*path.read_text().split("\n"), "", ""][:2]
            path.unlink()
        except OSError:
            host = block = ""
        return Placement(
            host=host or None,
            executor=label,
            block_id=block or None,
            job_id=self.session.job_id(label, block or None),
        )

    def _failed(
        self,
        request: CallRequest,
        failure: BaseException,
        label: str,
        call_id: str,
        wall_time: float,
        lines: tuple[tuple[Level, str], ...],
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
        self._where.mkdir(parents=True, exist_ok=True)
        return bash_script(
            [*module.argv, str(request.config_path)],
            cwd=module.working_directory,
            stdout=request.stdout_path,
            stderr=request.stderr_path,
            environment={**self.environment, **module.env, CALL_MARKER: call_id},
            timeout=request.timeout,
            grace_period=self.grace_period,
            where=self._where / call_id,
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
    append: bool = False,
    where: Path | None = None,
) -> str:
    """A bash script that runs ``argv`` in ``cwd`` with ``environment`` added.

    Its output goes to ``stdout`` / ``stderr`` (one file if they are the same, added to
    the end with ``append``; exit 125 if they cannot be written, 126 if ``cwd`` cannot be
    entered).  With a ``timeout``,
    coreutils ``timeout`` stops the program's process group: SIGTERM, then SIGKILL after
    ``grace_period`` (exit 124).  With ``where``, the script first writes there the
    worker's host name and its Parsl block id (``PARSL_WORKER_BLOCK_ID``), a line each.
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
    redirect = ">>" if append else ">"
    lines: tuple[str, ...] = ()
    if where is not None:
        lines = (
            'printf \'%s\\n%s\\n\' "${HOSTNAME:-$(uname -n)}" "${PARSL_WORKER_BLOCK_ID:-}" '
            f"2>/dev/null >{quote(str(where))}",
        )
    return "\n".join(
        (
            *lines,
            f"exec {redirect}{quote(str(stdout))} "
            + ("2>&1" if stderr == stdout else f"2{redirect}{quote(str(stderr))}")
            + " || exit 125",
            f"cd {quote(str(cwd))} || exit 126",
            "exec env " + " ".join(map(quote, [*assignments, *command])),
        )
    )


def _reason(exc: BaseException) -> str:
    """Parsl's account of a failure, shortened to its first lines."""
    text = str(exc).strip() or type(exc).__name__
    lines = [line.rstrip() for line in text.splitlines() if line.strip()]
    if len(lines) > _REASON_LINES:
        lines = [*lines[:_REASON_LINES], f"... ({len(lines) - _REASON_LINES} more lines)"]
    return f"{type(exc).__name__}: " + "\n".join(lines)
