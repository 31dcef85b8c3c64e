"""The one rule for names SIMBA puts into paths: run ids, cell ids, package names.

A name is 1 to 128 letters, digits, ``_``, ``.`` and ``-``, not starting with ``.``
or ``-``, so it is always a single, visible path component.  The JSON Schemas spell
the same rule for module names (``schema/schedule.json``).
"""

from __future__ import annotations

import re

IDENTIFIER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")

#: What to tell a user whose name breaks the rule.
RULE = "use letters, digits, '_', '.' and '-', not starting with '.' or '-'"


def is_identifier(text: str) -> bool:
    """Whether ``text`` is a name SIMBA accepts as a path component."""
    return IDENTIFIER.fullmatch(text) is not None
