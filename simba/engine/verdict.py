"""The verdict on one call attempt: its status, or why it failed (DESIGN §5, §8).

The same for every back-end: a runner reports how the process ended
(:class:`~simba.runners.base.CallResult`), and :func:`judge` reads the status file
only if that went well.  A failure names the module, the call and the reason, with
the tail of the module's stderr.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from simba.engine.protocol import Status, StatusProblem, read_status, status_from_line
from simba.errors import ModuleError, ModuleTimeoutError, StatusFileError, format_tail, tail
from simba.events import CallOutcome
from simba.plan import Call, Mode
from simba.process import signal_name
from simba.runners.base import CallResult


@dataclass(frozen=True, slots=True)
class Failure:
    outcome: CallOutcome
    """``error``, ``timeout``, ``signal``, ``exit``, ``status`` or ``fail`` (as traced)."""
    error: ModuleError


def judge(
    call: Call,
    result: CallResult,
    status_path: Path,
    stderr_path: Path,
    timeout: float | None,
) -> Status | Failure:
    """The status of a successful attempt, or why it failed."""
    problem: StatusProblem | None = None
    status: Status | None = None
    if result.error is None and not result.timed_out and result.exit_code == 0:
        try:
            inline = result.status  # scale: a status answered inline (no file)
            status = read_status(status_path) if inline is None else status_from_line(inline)
        except StatusProblem as exc:
            problem = exc
        else:
            if status.success:
                return status
    where = f"module {call.module.name!r} ({describe(call)})"

    def failure(outcome: CallOutcome, kind: type[ModuleError], message: str) -> Failure:
        return Failure(
            outcome,
            kind(
                _with_log(message, stderr_path),
                module=call.module.name,
                tick=call.tick,
                mode=call.mode.value,
                exit_code=result.exit_code,
                log_path=stderr_path,
            ),
        )

    if result.error is not None:
        return failure("error", ModuleError, f"{where} {result.error}")
    if result.timed_out:
        message = f"{where} ran longer than its timeout of {timeout:g} s and was stopped"
        return failure("timeout", ModuleTimeoutError, message)
    if result.exit_code is None:
        message = f"{where} was killed by signal {signal_name(result.signal)}"
        return failure("signal", ModuleError, message)
    if result.exit_code != 0:
        return failure("exit", ModuleError, f"{where} exited with code {result.exit_code}")
    if problem is not None:
        return failure("status", StatusFileError, f"{where}: {problem}")
    assert status is not None  # read, valid, and not a success
    said = f": {status.message}" if status.message else ""
    return failure("fail", StatusFileError, f"{where} reported status {status.written!r}{said}")


def describe(call: Call) -> str:
    """``step at tick 3``, ``start call at tick 0``."""
    if call.mode is Mode.STEP:
        return f"step at tick {call.tick}"
    return f"{call.mode.value} call at tick {call.tick}"


def _with_log(message: str, stderr_path: Path) -> str:
    """``message`` with the last lines of the call's stderr, or of its stdout if that is
    where the module said why (``stdout_<i>`` lies beside ``stderr_<i>``)."""
    stdout_path = stderr_path.with_name(stderr_path.name.replace("stderr", "stdout", 1))
    for name, path in (("stderr", stderr_path), ("stdout", stdout_path)):
        lines = tail(path)
        if lines:
            return f"{message}; last lines of its {name}:\n{format_tail(lines)}\n(full log: {path})"
    return f"{message}; its stderr and stdout are empty"
