"""The rules for names SIMBA puts into paths.

Two rules, each the one place that decides:

* :func:`is_name` for what a scenario names and the reference driver accepts: module
  names, run ids, cell ids.  They may hold spaces, ``:``, ``=`` and letters of any
  script (``Zürich 2024: β=0.3``), and are always exactly one visible path component:
  1 to 128 characters and at most :data:`MAX_BYTES` bytes in UTF-8 (so that SIMBA's
  own suffixes still fit a file name), no ``/`` or ``\\``, no control characters and no
  invisible characters that reorder text, not ``.`` or ``..`` nor starting with ``.``
  (hidden) or ``-`` (read as an option), and no space at either end.
* :func:`is_identifier` for package namespaces and names (ZIP entries, install
  directories, descriptor URLs): letters, digits, ``_``, ``.`` and ``-`` only.

The JSON Schemas spell the same rules (``schema/*.json``); a test checks that they
carry :data:`NAME_PATTERN` and :data:`IDENTIFIER_PATTERN` word for word.
"""

from __future__ import annotations

import re

#: Package namespaces and names.
IDENTIFIER_PATTERN = "^[A-Za-z0-9_][A-Za-z0-9_.-]*$"
IDENTIFIER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")

#: Characters no name holds: C0 and C1 controls, the path separators, and the
#: invisible ones that reorder or hide text (bidi marks and overrides, zero widths, BOM).
_FORBIDDEN = (
    "\\u0000-\\u001f\\u007f-\\u009f/\\\\\\u200b-\\u200f\\u2028-\\u202e\\u2060-\\u2069\\ufeff"
)
#: Module names, run ids, cell ids (as a JSON Schema pattern, which Python's re reads too).
NAME_PATTERN = f"^(?![.-])(?!\\s)(?!.*\\s$)[^{_FORBIDDEN}]+$"
NAME = re.compile(NAME_PATTERN)
#: Most UTF-8 bytes in a name: a file name has 255, and SIMBA adds suffixes of its own.
MAX_BYTES = 200
MAX_LENGTH = 128

#: What to tell a user whose package name breaks the rule.
RULE = "use letters, digits, '_', '.' and '-', not starting with '.' or '-'"
#: What to tell a user whose module name, run id or cell id breaks the rule.
NAME_RULE = (
    "a name is one path component of at most 128 characters: no '/' or '\\', no control "
    "or invisible characters, not starting with '.' or '-' and no space at either end "
    "(spaces, ':', '=' and non-ASCII letters are fine)"
)


def is_identifier(text: str) -> bool:
    """Whether ``text`` is a package namespace or name SIMBA accepts."""
    return IDENTIFIER.fullmatch(text) is not None


def is_name(text: str) -> bool:
    """Whether ``text`` is a module name, run id or cell id SIMBA accepts."""
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:  # a lone surrogate, from a file name that is not UTF-8
        return False
    return len(text) <= MAX_LENGTH and size <= MAX_BYTES and NAME.fullmatch(text) is not None
