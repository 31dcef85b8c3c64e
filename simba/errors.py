"""Every exception SIMBA raises on purpose.

The tree::

    SimbaError                      exit status 1 (.exit_status) unless a subclass says otherwise
    ├── ScenarioError               exit 2: the scenario files are wrong (.problems)
    ├── OptionsError                exit 2: a run option given to simba.run or Engine is wrong
    ├── RunDirectoryError           exit 2: the run directory cannot be used as asked
    ├── ModuleError                 exit 1: a module call failed (.module, .tick, .mode,
    │   │                                   .exit_code, .log_path)
    │   ├── ModuleTimeoutError      the call ran past its timeout and was killed
    │   └── StatusFileError         the status file is missing, malformed or says "fail"
    ├── RunnerError                 exit 1: a back-end could not run a call at all
    │   └── ServiceError            a service module failed to start, or ended early
    ├── RunInterrupted              exit 130 (SIGINT) / 143 (SIGTERM): stopped by a signal
    ├── CheckpointError             exit 2: a checkpoint cannot be read or does not fit
    └── PackageError                exit 2: a module package cannot be packed/installed/found
        ├── DescriptorError         descriptor.json breaks its schema (.problems)
        ├── PackageNotFoundError    no installed package matches a name and range
        └── ArchiveError            an archive breaks a safety rule (.violations)

Messages are written for the person who runs the scenario: what failed, where,
and what to do.  The same facts live in attributes for programs.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True, order=True)
class Problem:
    """One thing wrong with a scenario: the file, the JSON path in it, a plain sentence."""

    file: str
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}: {self.path}" if self.path else self.file
        return f"{where}: {self.message}"


class SimbaError(Exception):
    """The root of SIMBA's exceptions; ``exit_status`` is what the CLI exits with."""

    exit_status = 1


class ScenarioError(SimbaError):
    """A scenario that cannot run; ``problems`` lists every problem found at once."""

    exit_status = 2

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        count = len(self.problems)
        head = "the scenario has 1 problem" if count == 1 else f"the scenario has {count} problems"
        lines = [f"{head}; fix them and run again:"]
        lines += [f"  - {problem}" for problem in self.problems]
        super().__init__("\n".join(lines))

    @classmethod
    def single(cls, file: str | Path, path: str, message: str) -> ScenarioError:
        return cls([Problem(str(file), path, message)])


class OptionsError(SimbaError):
    """A run option given through the Python API (``simba.run``, ``RunOptions``) is wrong."""

    exit_status = 2


class RunDirectoryError(SimbaError):
    """The run directory exists, is locked, or is not a SIMBA run."""

    exit_status = 2


class ModuleError(SimbaError):
    """A module call failed; the message names module, tick and reason."""

    def __init__(
        self,
        message: str,
        *,
        module: str,
        tick: int,
        mode: str,
        exit_code: int | None = None,
        log_path: Path | None = None,
    ) -> None:
        super().__init__(message)
        self.module = module
        self.tick = tick
        self.mode = mode
        self.exit_code = exit_code
        self.log_path = log_path


class ModuleTimeoutError(ModuleError):
    """The call ran longer than its timeout; its process group was killed."""


class StatusFileError(ModuleError):
    """The status file is missing, malformed, invalid or reports failure."""


class RunnerError(SimbaError):
    """A back-end could not run a call at all (not the module's fault)."""


class RunInterrupted(SimbaError):
    """A signal stopped the run; a checkpoint was written, so ``--resume`` continues it."""

    def __init__(self, message: str, *, signal_number: int) -> None:
        super().__init__(message)
        self.signal_number = signal_number
        self.exit_status = 128 + signal_number


class CheckpointError(SimbaError):
    """A checkpoint cannot be read, or it belongs to another scenario."""

    exit_status = 2


class ServiceError(RunnerError):
    """A service could not start, never became ready, or ended before the run did."""

    def __init__(
        self,
        message: str,
        *,
        module: str,
        exit_code: int | None = None,
        signal_number: int | None = None,
        log_path: Path | None = None,
    ) -> None:
        super().__init__(message)
        self.module = module
        self.exit_code = exit_code
        self.signal_number = signal_number
        self.log_path = log_path


class PackageError(SimbaError):
    """A package cannot be packed, installed, found or removed (exit 2: bad input)."""

    exit_status = 2


class DescriptorError(PackageError):
    """A descriptor.json breaks the descriptor schema; ``problems`` lists every problem."""

    def __init__(self, file: str, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        lines = [f"{file} is not a valid package descriptor:"]
        lines += [f"  - {p.path or '(top level)'}: {p.message}" for p in self.problems]
        lines.append("See 'simba schema descriptor' for its fields.")
        super().__init__("\n".join(lines))


class PackageNotFoundError(PackageError):
    """No installed package matches a name and version range."""


@dataclass(frozen=True, slots=True)
class Violation:
    """One archive entry that breaks one rule of :data:`RULES`."""

    entry: str
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.entry!r} [{self.rule}]: {self.message}"


class ArchiveError(PackageError):
    """An archive SIMBA refuses to install; ``violations`` names each entry and rule."""

    def __init__(self, archive: Path, violations: Sequence[Violation], *, doing: str) -> None:
        self.archive = archive
        self.violations = tuple(violations)
        shown = self.violations[:20]
        count = len(self.violations)
        head = (
            f"cannot {doing} {archive}: "
            + ("1 problem" if count == 1 else f"{count} problems")
            + ", so nothing was written:"
        )
        lines = [head, *(f"  - {v}" for v in shown)]
        if count > len(shown):
            lines.append(f"  ... and {count - len(shown)} more")
        super().__init__("\n".join(lines))

    @property
    def rules(self) -> set[str]:
        return {v.rule for v in self.violations}


def format_tail(lines: Sequence[str]) -> str:
    """Indent the last lines of a log for inclusion in a message."""
    return "\n".join(f"    | {line}" for line in lines) if lines else "    (empty)"


def tail_bytes(path: Path, max_bytes: int = 8192) -> bytes:
    """At most the last ``max_bytes`` bytes of a log file (nothing if it cannot be read)."""
    try:  # a named pipe put in its place must not block (nor a device feed it endlessly)
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return b""
            size = os.lseek(fd, 0, os.SEEK_END)
            return os.pread(fd, max_bytes, max(0, size - max_bytes))
        finally:
            os.close(fd)
    except OSError:
        return b""


def tail(path: Path, lines: int = 10, max_bytes: int = 8192) -> list[str]:
    """The last ``lines`` whole lines of a log file, read from at most its last ``max_bytes``."""
    data = tail_bytes(path, max_bytes + 1)
    cut = len(data) > max_bytes
    text = data[-max_bytes:].decode("utf-8", "replace").splitlines()
    if cut and text:  # the first line is probably cut: drop it
        text = text[1:]
    return text[-lines:]
