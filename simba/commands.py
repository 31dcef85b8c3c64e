"""A command -> the argv that runs it: one rule for scenarios and packages.

A command is a list (``argv`` as given) or a string.  A string with shell syntax
(pipes, redirections, ``$``, globs, …), one that cannot be split into words, or one
whose first word sets a variable runs under ``/bin/sh -c``; any other string is split
with :func:`shlex.split`.  A program is a path (relative to a base directory), a file
in the base directory, or a name on ``PATH``; it must be an executable file.
"""

from __future__ import annotations

import os
import shlex
import shutil
from collections.abc import Sequence
from pathlib import Path

#: Characters that make a command string need ``/bin/sh``.
SHELL_SYNTAX = frozenset("|&;<>()$`*?[]~\n")


class CommandError(ValueError):
    """A command that cannot run; the message says why, for a user."""


def needs_shell(words: Sequence[str]) -> bool:
    """Whether a split command string must still run under ``/bin/sh`` (``A=1 prog``, or empty)."""
    return not words or "=" in words[0]


def split(command: str) -> list[str] | None:
    """The words of a command string run without a shell, or None if it needs ``/bin/sh``.

    Raises :class:`ValueError` (shlex's) when the string cannot be split.
    """
    if SHELL_SYNTAX.intersection(command):
        return None
    words = shlex.split(command)
    return None if needs_shell(words) else words


def shell_argv(command: str) -> tuple[str, ...]:
    """``/bin/sh -c`` running ``command`` with the config path appended, as ``"$@"``.

    The path always goes at the end of the command text, as in the reference driver,
    even where the text names ``$1`` itself: in ``awk '{print $1}'`` or a
    ``bash -c '... "$1"' name`` wrapper that ``$1`` is not the shell's own.
    """
    return ("/bin/sh", "-c", command + ' "$@"', "sh")


def program_of(command: str | Sequence[str]) -> str | None:
    """The program a command runs, or None if a shell runs it (or it cannot be split)."""
    if not isinstance(command, str):
        return command[0] if command else None
    try:
        words = split(command)
    except ValueError:
        return None
    return None if words is None else words[0]


def which(program: str, path: str | None = None) -> str | None:
    """``program`` found on ``path`` (default: ``$PATH``), or None."""
    try:
        return shutil.which(program, path=path)
    except ValueError:  # a NUL byte in PATH
        return None


def find_program(program: str, base_dir: Path) -> str:
    """The absolute path of an executable program; raises :class:`CommandError`.

    A bare name is a file in ``base_dir`` if one is there (as in the reference driver),
    else a program on ``PATH``; a relative path is relative to ``base_dir``.
    """
    if "/" not in program and not (base_dir / program).is_file():
        found = shutil.which(program)
        if found is None:
            raise CommandError(
                f"the program {program!r} is not on PATH; install it or give its path"
            )
        return found
    path = Path(program).expanduser()
    path = path if path.is_absolute() else base_dir / path
    if not path.exists():
        raise CommandError(f"the program {path} does not exist")
    if not path.is_file():
        raise CommandError(f"the program {path} is not a file")
    if not os.access(path, os.X_OK):
        raise CommandError(
            f"the program {path} is not executable; run 'chmod +x {path}' or name its "
            f'interpreter in the command (e.g. "python3 {program}")'
        )
    return str(path)
