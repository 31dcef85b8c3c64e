"""Placeholders in a module's ``command`` and ``env``: ``{dataDir}`` and friends.

A placeholder is ``{name}`` with a name of letters, digits and ``_``.  Text that is
not of that form is left alone, so JSON in an env value (``{"a": 1}``), shell
expansions (``${HOME}``, not a placeholder because of the ``$``) and ``find -exec {}``
keep working.  ``{{name}}`` stands for the literal text ``{name}``.

The loader checks the names (an unknown one is a scenario problem); the program of a
command is resolved when the scenario is loaded (it must be checked before anything
runs), everything else when the run starts, because only then are the run
directory's paths known.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping

#: Every placeholder, with what it stands for.
NAMES: Mapping[str, str] = {
    "stateDir": "the module's state directory in the run (modules/<name>/state)",
    "cacheDir": "the module's cache directory in the run (modules/<name>/cache)",
    "dataDir": "the module's private data directory in the run (modules/<name>/data, mode 0700)",
    "logDir": "the module's log directory in the run (modules/<name>/log)",
    "runDir": "the run directory",
    "packageDir": "the directory of the installed package (package modules only)",
    "python": "the Python interpreter running SIMBA",
}

#: The placeholders whose values are paths inside the run directory.
RUN_NAMES = frozenset({"stateDir", "cacheDir", "dataDir", "logDir", "runDir"})

#: The placeholders that name one of the module's own directories.
MODULE_DIR_NAMES = frozenset({"stateDir", "cacheDir", "dataDir", "logDir"})

_TOKEN = re.compile(r"\{\{([A-Za-z_]\w*)\}\}|(?<!\$)\{([A-Za-z_]\w*)\}")


def names(text: str) -> list[str]:
    """The placeholder names ``text`` uses, in order of appearance (with repeats)."""
    return [match.group(2) for match in _TOKEN.finditer(text) if match.group(2)]


def expand(text: str, values: Mapping[str, str], *, quote: bool = False) -> str:
    """``text`` with each placeholder replaced by its value (shell-quoted if ``quote``).

    Raises :class:`KeyError` for a name without a value: the loader has ruled those out.
    """

    def replace(match: re.Match[str]) -> str:
        literal, name = match.groups()
        if literal is not None:
            return "{" + literal + "}"
        value = values[name]
        return shlex.quote(value) if quote else value

    return _TOKEN.sub(replace, text)


def describe_unknown(name: str, allowed: frozenset[str] | set[str]) -> str:
    """A sentence about a placeholder that is not allowed here."""
    if name == "packageDir" and name not in allowed:
        return (
            "{packageDir} exists only for modules installed from a package "
            "(schedule entries with 'package')"
        )
    known = ", ".join("{" + n + "}" for n in NAMES if n in allowed)
    return (
        f"unknown placeholder {{{name}}}; known placeholders are {known} "
        f"(write {{{{{name}}}}} for the literal text {{{name}}})"
    )
