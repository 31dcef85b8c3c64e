"""The ``resident`` type: one process per module for the whole run (DESIGN §6).

The process starts at the module's first call.  For each call SIMBA writes the
config file as usual and sends its path plus a newline on the module's stdin; the
module writes the status file and answers with the line ``DONE: <config path>`` on
stdout.  Output between the request and the answer goes to the call's
``stdout_<i>`` / ``stderr_<i>``.  stdin is closed after the run's last call (the
module should then exit).  A crash, or no answer within the call's timeout, fails
the call; the process is restarted for a retry.  Module processes get
``SIMBA_MODULE_MODE=resident``, which :class:`simba.module.Module` follows.

With ``"protocol": "inline"`` (:mod:`simba.runners.inline`) the config document itself
is sent as one JSON line and the module answers ``STATUS: <status JSON>``: no file per
call.  Such processes also get ``SIMBA_MODULE_PROTOCOL=inline``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from simba.events import Level, Usage
from simba.output import Sink
from simba.process import GRACE_PERIOD, Cancellation, ModuleProcess
from simba.runners.base import CallRequest, CallResult, ProcUsage, Runner, rusage_of
from simba.runners.inline import MAX_STATUS_BYTES, StatusSink, request_line
from simba.scenario import ModuleSpec

DONE = b"DONE:"
#: How long SIMBA looks for an inline answer before it sleeps (see ``supervise``'s spin).
SPIN = 0.0002


class ResidentRunner(Runner):
    def __init__(
        self,
        environment: Callable[[ModuleSpec], Mapping[str, str]],
        *,
        grace_period: float = GRACE_PERIOD,
    ) -> None:
        self.environment = environment
        self.grace_period = grace_period
        self._processes: dict[str, ModuleProcess] = {}
        self._cancellation = Cancellation()
        self._proc: dict[str, ProcUsage] = {}
        self._later: dict[str, _LaterUsage] = {}
        """The usage of each module's last answered call, until it is read."""
        self._spilled: set[Path] = set()
        """Output files of in-memory calls written by this runner (see :meth:`_spill`)."""
        self._cpu: dict[str, tuple[float, float]] = {}
        """Each module process's user and system CPU seconds after its last call."""

    def run(self, request: CallRequest) -> CallResult:
        inline = request.document is not None
        in_memory = inline and request.in_memory
        stdout: Sink | StatusSink
        if request.document is not None:
            stdout = StatusSink(Sink(None if in_memory else request.stdout_path))
        else:
            stdout = Sink(request.stdout_path, done_prefix=DONE)
        stderr = Sink(None if in_memory else request.stderr_path)
        result = self._run(request, stdout, stderr)
        if not in_memory:
            return result
        assert isinstance(stdout, StatusSink)
        if result.stdout is None or result.stderr is None:  # not answered: attach it here
            kept = bytes(stdout.output.kept), bytes(stderr.kept)
            result = dataclasses.replace(result, stdout=kept[0], stderr=kept[1])
        self._spill(result.stdout or b"", request.stdout_path)
        self._spill(result.stderr or b"", request.stderr_path)
        return result

    def _spill(self, data: bytes, path: Path) -> None:
        """Keep the module's fixed output file that of its latest call: written if the call
        printed something (a failure's error quotes its tail), removed if an earlier one
        did and this one did not; a quiet module's calls touch no file."""
        if data:
            with contextlib.suppress(OSError):  # the error then has no tail, nothing worse
                try:
                    path.write_bytes(data)
                except FileNotFoundError:  # no call of the module has made its directory
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_bytes(data)
                self._spilled.add(path)
        elif path in self._spilled:
            self._spilled.discard(path)
            path.unlink(missing_ok=True)

    def _run(self, request: CallRequest, stdout: Sink | StatusSink, stderr: Sink) -> CallResult:
        module = request.module
        started = time.perf_counter()
        try:
            process = self._process(module)
        except OSError as exc:
            return CallResult(
                exit_code=None,
                wall_time=time.perf_counter() - started,
                error=f"could not be started: {exc}",
            )
        inline = request.document is not None
        if request.document is not None:
            line = request_line(request.document)
        else:
            line = f"{request.config_path}\n".encode()
        until = _until(stdout)
        later = self._later.pop(module.name, None)
        if later is not None:  # its previous call's usage, before this call adds to it
            later()
        try:
            sent = _send(process, line)
            if sent and request.meanwhile is not None:
                request.meanwhile()
            outcome = (
                process.supervise(
                    stdout,
                    stderr,
                    timeout=request.timeout,
                    wake_fd=self._cancellation.fd,
                    grace_period=self.grace_period,
                    until=until,
                    spin=SPIN if inline else 0.0,
                )
                if sent
                else None
            )
        finally:
            stdout.close()
            stderr.close()
        wall_time = time.perf_counter() - started
        found = stdout.output.found if isinstance(stdout, StatusSink) else stdout.found
        lines = (*found, *stderr.found)
        if isinstance(stdout, StatusSink) and stdout.answered:
            return self._inline_answer(request, (stdout, stderr), wall_time, lines)
        if isinstance(stdout, Sink) and stdout.done is not None:
            return self._answered(request, stdout.done, wall_time, lines)
        if outcome is not None and outcome.timed_out:
            self._discard(module.name)
            return CallResult(
                exit_code=None,
                timed_out=True,
                wall_time=wall_time,
                lines=lines,
                usage=self._ended_usage(module.name, process),
            )
        process.wait_exit(self.grace_period)
        returncode = self._discard(module.name)
        how = f"code {returncode}" if returncode >= 0 else f"signal {-returncode}"
        return CallResult(
            exit_code=None,
            wall_time=wall_time,
            lines=lines,
            usage=self._ended_usage(module.name, process),
            cancelled=self._cancellation.cancelled,
            error=f"(resident) exited with {how} before answering "
            + ("with a 'STATUS: ' line" if inline else f"'DONE: {request.config_path}'"),
        )

    def _inline_answer(
        self,
        request: CallRequest,
        sinks: tuple[StatusSink, Sink],
        wall_time: float,
        lines: tuple[tuple[Level, str], ...],
    ) -> CallResult:
        """The result of an inline call the module answered (the engine judges the status),
        with its output if kept in memory."""
        stdout, stderr = sinks
        if stdout.status is not None:
            return CallResult(
                exit_code=0,
                wall_time=wall_time,
                lines=lines,
                usage_later=self._later_usage(request.module.name),
                status=stdout.status,
                stdout=bytes(stdout.output.kept) if request.in_memory else None,
                stderr=bytes(stderr.kept) if request.in_memory else None,
            )
        self._discard(request.module.name)  # the rest of its answer would be taken for output
        return CallResult(
            exit_code=None,
            wall_time=wall_time,
            lines=lines,
            error=f"(inline protocol) answered with a status line over {MAX_STATUS_BYTES} bytes",
        )

    def _answered(
        self,
        request: CallRequest,
        answer: str,
        wall_time: float,
        lines: tuple[tuple[Level, str], ...],
    ) -> CallResult:
        """The result of a call the module answered with ``DONE: <answer>``."""
        if answer == str(request.config_path):
            later = self._later_usage(request.module.name)
            return CallResult(exit_code=0, wall_time=wall_time, lines=lines, usage_later=later)
        # Out of step with its requests: end it (EOF first), so a retry starts anew.
        process = self._processes[request.module.name]
        with contextlib.suppress(OSError):
            if process.popen.stdin is not None:
                process.popen.stdin.close()
        self._discard(request.module.name)
        return CallResult(
            exit_code=None,
            wall_time=wall_time,
            lines=lines,
            error=f"answered 'DONE: {answer}' instead of 'DONE: {request.config_path}'",
        )

    def cancel(self) -> None:
        self._cancellation.cancel()

    def shutdown(self) -> None:
        """Close every module's stdin, give it the grace period to exit, then stop it."""
        for process in self._processes.values():
            with contextlib.suppress(OSError):
                if process.popen.stdin is not None:
                    process.popen.stdin.close()
        for name in list(self._processes):
            self._discard(name)
        self._cancellation.close()

    def _process(self, module: ModuleSpec) -> ModuleProcess:
        process = self._processes.get(module.name)
        if process is not None and not process.exited:
            return process
        if process is not None:
            self._discard(module.name)
        process = ModuleProcess(
            module.argv,
            cwd=module.working_directory,
            env={**self.environment(module), "SIMBA_MODULE_MODE": "resident", **_protocol(module)},
            stdin=subprocess.PIPE,
        )
        self._processes[module.name] = process
        self._proc[module.name] = ProcUsage(process.pid)
        return process

    def _later_usage(self, name: str) -> _LaterUsage:
        """The usage of ``name``'s call just answered, read when asked for (or before the
        module's next request: see :class:`_LaterUsage`)."""
        later = self._later[name] = _LaterUsage(self, name)
        return later

    def _usage(self, name: str) -> Usage | None:
        """The call's CPU seconds (the process's since its previous call; /proc counts in
        clock ticks, usually 10 ms) and the process's peak RSS so far; ``None`` if /proc
        cannot tell."""
        measured = self._proc[name].read()
        if measured is None:
            return None
        user, system, peak = measured
        before_user, before_system = self._cpu.get(name, (0.0, 0.0))
        self._cpu[name] = (user, system)
        return Usage(
            user_cpu=round(user - before_user, 6),
            system_cpu=round(system - before_system, 6),
            max_rss_kb=peak,
        )

    def _ended_usage(self, name: str, process: ModuleProcess) -> Usage | None:
        """The usage of a call whose process ended (``os.wait4``), less its earlier calls'."""
        usage = rusage_of(process.usage)
        before_user, before_system = self._cpu.pop(name, (0.0, 0.0))
        if usage is None or usage.user_cpu is None or usage.system_cpu is None:
            return usage
        return Usage(
            user_cpu=round(max(0.0, usage.user_cpu - before_user), 6),
            system_cpu=round(max(0.0, usage.system_cpu - before_system), 6),
            max_rss_kb=usage.max_rss_kb,
        )

    def _discard(self, name: str) -> int:
        """Stop and reap a module's process; its exit status."""
        later = self._later.pop(name, None)
        if later is not None:
            later()
        process = self._processes.pop(name)
        self._proc.pop(name).close()
        process.wait_exit(self.grace_period)
        process.stop(self.grace_period)
        with contextlib.suppress(OSError):
            if process.popen.stdin is not None:
                process.popen.stdin.close()
        return process.reap()


class _LaterUsage:
    """The usage of an answered call, read from /proc when first asked for.

    Reading it at once would hold up the next call; the module waits for its next
    request meanwhile, so its figures stay those of this call until then, and the
    runner reads them before it sends that request if nobody asked before.
    """

    __slots__ = ("_name", "_runner", "_usage")

    def __init__(self, runner: ResidentRunner, name: str) -> None:
        self._runner: ResidentRunner | None = runner
        self._name = name
        self._usage: Usage | None = None

    def __call__(self) -> Usage | None:
        if self._runner is not None:
            self._usage, self._runner = self._runner._usage(self._name), None
        return self._usage


def _until(stdout: Sink | StatusSink) -> Callable[[], bool]:
    """Whether the module has answered the call."""
    if isinstance(stdout, StatusSink):
        return lambda: stdout.answered
    return lambda: stdout.done is not None


def _protocol(module: ModuleSpec) -> dict[str, str]:
    return {"SIMBA_MODULE_PROTOCOL": "inline"} if module.protocol == "inline" else {}


def _send(process: ModuleProcess, data: bytes) -> bool:
    stdin = process.popen.stdin
    assert stdin is not None
    try:
        stdin.write(data)
        stdin.flush()
    except (BrokenPipeError, ValueError):
        return False
    return True
