"""What a package's ``moduleDataSchema`` may hold beyond being a valid JSON Schema.

Validating moduleData must touch no network and no file and must end quickly, so a
package schema is refused (at pack, install, and whenever its descriptor is read) when

* a ``$ref``, ``$dynamicRef`` or ``$recursiveRef`` points outside the schema: only
  references that start with ``#`` (``#/$defs/rate``, ``#anchor``) are allowed;
* a ``pattern`` or a ``patternProperties`` key can backtrack exponentially: a
  backreference or conditional group; a repeated group whose iterations can split the
  same text in more than one way, because a quantifier at its end can take what the
  next iteration starts with (``(a+)+``, ``(\\w+\\s?)*``); or a repeated alternation
  whose alternatives can start the same way (``(a|aa)*``).

The check of patterns is a static one on Python's own parse of the pattern, so it is
fast and never runs the pattern; it accepts the usual delimited repetitions
(``^[a-z]+(-[a-z]+)*$``, ``^\\d+(\\.\\d+)*$``).  What it cannot see (polynomial cases
such as ``.*.*.*x`` on long text) is stopped by the CPU-time bound of
:func:`simba.schemas.validate_against`.
"""

from __future__ import annotations

import re
import sys
import warnings
from collections.abc import Iterator
from typing import Any

from simba.errors import Problem

#: Keywords whose value is a reference.
REFERENCE_KEYWORDS = ("$ref", "$dynamicRef", "$recursiveRef")

#: The characters a pattern can match, as a bit mask: bits 0-127 are ASCII, bit 128
#: stands for every other character.
_OTHER = 1 << 128
_ALL = (1 << 129) - 1
_DIGITS = sum(1 << ord(c) for c in "0123456789")
_SPACES = sum(1 << ord(c) for c in " \t\n\r\f\v")
_WORD = (
    _DIGITS
    | (1 << ord("_"))
    | sum(1 << c for c in range(65, 91))
    | sum(1 << c for c in range(97, 123))
)
_CATEGORIES = {"DIGIT": _DIGITS, "SPACE": _SPACES, "WORD": _WORD}


def schema_problems(schema: object, *, file: str, where: str) -> list[Problem]:
    """A problem for each remote reference and each unsafe pattern in ``schema``."""
    problems: list[Problem] = []
    for path, key, value in _walk(schema, where):
        if key in REFERENCE_KEYWORDS and isinstance(value, str) and not value.startswith("#"):
            problems.append(
                Problem(
                    file,
                    path,
                    f"{value!r} refers outside the schema, and SIMBA fetches nothing while "
                    "validating; copy what it refers to into '$defs' and refer to it as "
                    "'#/$defs/NAME'",
                )
            )
        elif key == "pattern" and isinstance(value, str):
            problems += _pattern_problems(value, file, path)
        elif key == "patternProperties" and isinstance(value, dict):
            for pattern in value:
                problems += _pattern_problems(pattern, file, f"{path}.{pattern}")
    return problems


def _walk(node: object, path: str) -> Iterator[tuple[str, str, Any]]:
    """Every (JSON path, key, value) of every object in ``node``, depth first, iteratively."""
    stack: list[tuple[object, str]] = [(node, path)]
    while stack:
        current, here = stack.pop()
        if isinstance(current, dict):
            for key, value in current.items():
                child = f"{here}.{key}"
                yield child, key, value
                stack.append((value, child))
        elif isinstance(current, list):
            stack.extend((value, f"{here}[{i}]") for i, value in enumerate(current))


def _pattern_problems(pattern: str, file: str, path: str) -> list[Problem]:
    why = unsafe_pattern(pattern)
    if why is None:
        return []
    return [
        Problem(
            file,
            path,
            f"the pattern {pattern!r} {why}, so matching it can take practically for ever; "
            "rewrite it so that each part can match a piece of text in one way only",
        )
    ]


def unsafe_pattern(pattern: str) -> str | None:
    """Why ``pattern`` can backtrack exponentially, or None when it cannot (see above)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # FutureWarning: "possible nested set"
            parsed = _parser().parse(pattern)
    except (re.error, RecursionError, OverflowError):
        return None  # not a regex: the meta-schema's "format": "regex" says so
    except Exception:  # the private parser changed shape: rely on the CPU-time bound
        return None
    items = list(parsed)
    try:
        fold = bool(parsed.state.flags & re.IGNORECASE) or _folds(items)
        return _Analysis(fold).sequence_problem(items)
    except RecursionError:
        return "nests groups too deeply to be checked"


def _folds(items: list[Any]) -> bool:
    """Whether a group of ``items`` turns on IGNORECASE, as ``(?i:…)`` does."""
    for op, av in items:
        name = _name(op)
        if name == "SUBPATTERN" and av[1] & re.IGNORECASE:
            return True
        if any(_folds(child) for child in _children(name, av)):
            return True
    return False


def _parser() -> Any:
    if sys.version_info >= (3, 11):
        from re import _parser
    else:  # pragma: no cover
        import sre_parse as _parser
    return _parser


def _name(op: object) -> str:
    return str(op).upper()


class _Analysis:
    """The checks on a parsed pattern (a list of ``(op, argument)`` items)."""

    def __init__(self, fold: bool) -> None:
        self.fold = fold

    def sequence_problem(self, items: list[Any]) -> str | None:
        for op, av in items:
            why = self.item_problem(_name(op), av)
            if why is not None:
                return why
        return None

    def item_problem(self, op: str, av: Any) -> str | None:
        if op in ("GROUPREF", "GROUPREF_EXISTS"):
            return "uses a backreference or a conditional group"
        if op.endswith("REPEAT"):
            high, body = av[1], list(av[2])
            if high > 1 and self.splits_iterations(body):
                return (
                    "repeats a group that can split the same text in more than one way "
                    "(a quantifier in it can take what comes after it)"
                )
            if high > 1 and self.ambiguous_branch(body):
                return "repeats alternatives that can match the same text"
            return self.sequence_problem(body)
        for child in _children(op, av):
            why = self.sequence_problem(child)
            if why is not None:
                return why
        return None

    def splits_iterations(self, body: list[Any]) -> bool:
        """Whether a variable part of ``body`` can take what follows it in the repetition."""
        return self.conflict(body, self.first(body))

    def conflict(self, items: list[Any], after: int) -> bool:
        """Whether a variable part of ``items`` can take a character that may follow it.

        ``after`` is what may follow ``items``; a variable part is a quantifier whose
        bounds differ or an alternation of different widths.
        """
        follow = after
        for op, av in reversed(items):
            name = _name(op)
            if self.variable(name, av) and self.chars([(op, av)]) & follow:
                return True
            inner = follow | (self.first(list(av[2])) if name.endswith("REPEAT") else 0)
            if any(self.conflict(child, inner) for child in _children(name, av)):
                return True
            if self.nullable([(op, av)]):
                follow |= self.first([(op, av)])
            else:
                follow = self.first([(op, av)])
        return False

    @staticmethod
    def variable(name: str, av: Any) -> bool:
        if name.endswith("REPEAT"):
            return bool(av[0] != av[1])
        if name == "BRANCH":
            widths = {branch.getwidth() for branch in av[1]}
            return len(widths) > 1 or any(low != high for low, high in widths)
        return False

    def ambiguous_branch(self, items: list[Any]) -> bool:
        """Whether an alternation anywhere in ``items`` has alternatives that match alike.

        Repeated, each such alternation doubles the ways to match every repetition.
        """
        for op, av in items:
            name = _name(op)
            if name == "BRANCH":
                branches = [list(b) for b in av[1]]
                for i, one in enumerate(branches):
                    if any(self.overlap(one, other) for other in branches[i + 1 :]):
                        return True
            if any(self.ambiguous_branch(child) for child in _children(name, av)):
                return True
        return False

    def overlap(self, one: list[Any], other: list[Any]) -> bool:
        """Whether two alternatives may match the same text (single characters compared)."""
        for (op_a, av_a), (op_b, av_b) in zip(one, other, strict=False):
            a, b = self.atom(_name(op_a), av_a), self.atom(_name(op_b), av_b)
            if a is None or b is None:
                return bool(self.first([(op_a, av_a)]) & self.first([(op_b, av_b)])) or (
                    self.nullable([(op_a, av_a)]) or self.nullable([(op_b, av_b)])
                )
            if not a & b:
                return False
        return True  # one is a prefix of the other, or they are alike

    def nullable(self, items: list[Any]) -> bool:
        for op, av in items:
            name = _name(op)
            if name in ("AT", "ASSERT", "ASSERT_NOT"):
                continue
            if name.endswith("REPEAT"):
                if av[0] > 0 and not self.nullable(list(av[2])):
                    return False
            elif name == "BRANCH":
                if not any(self.nullable(list(b)) for b in av[1]):
                    return False
            elif name in ("SUBPATTERN", "ATOMIC_GROUP"):
                if not self.nullable(_children(name, av)[0]):
                    return False
            elif name not in ("GROUPREF", "GROUPREF_EXISTS"):
                return False
        return True

    def first(self, items: list[Any]) -> int:
        """The characters a match of ``items`` can start with."""
        found = 0
        for op, av in items:
            name = _name(op)
            atom = self.atom(name, av)
            if atom is not None:
                return found | atom
            if name.endswith("REPEAT"):
                found |= self.first(list(av[2]))
            elif name == "BRANCH":
                for branch in av[1]:
                    found |= self.first(list(branch))
            elif name in ("SUBPATTERN", "ATOMIC_GROUP"):
                found |= self.first(_children(name, av)[0])
            elif name in ("GROUPREF", "GROUPREF_EXISTS"):
                return _ALL
            if not self.nullable([(op, av)]):
                return found
        return found

    def chars(self, items: list[Any]) -> int:
        """Every character a match of ``items`` can hold."""
        found = 0
        for op, av in items:
            name = _name(op)
            atom = self.atom(name, av)
            if atom is not None:
                found |= atom
            elif name in ("GROUPREF", "GROUPREF_EXISTS"):
                return _ALL
            elif name not in ("ASSERT", "ASSERT_NOT"):
                for child in _children(name, av):
                    found |= self.chars(child)
        return found

    def atom(self, op: str, av: Any) -> int | None:
        """The characters of a one-character item, or None for anything else."""
        if op == "LITERAL":
            return self._folded(_char(av))
        if op == "NOT_LITERAL":
            return _ALL & ~_char(av) | _OTHER
        if op == "ANY":
            return _ALL
        if op != "IN":
            return None
        found, negate = 0, False
        for kind, value in av:
            kind = _name(kind)
            if kind == "NEGATE":
                negate = True
            elif kind == "LITERAL":
                found |= _char(value)
            elif kind == "RANGE":
                low, high = value
                found |= sum(1 << c for c in range(low, min(high, 127) + 1))
                found |= _OTHER if high > 127 else 0
            elif kind == "CATEGORY":
                found |= _category(_name(value))
            else:
                found = _ALL
        found = self._folded(found)
        return (_ALL & ~found | _OTHER) if negate else found

    def _folded(self, mask: int) -> int:
        if not self.fold:
            return mask
        for upper in range(65, 91):
            if mask & (1 << upper) or mask & (1 << (upper + 32)):
                mask |= (1 << upper) | (1 << (upper + 32))
        return mask | (_OTHER if mask & _OTHER else 0)


def _char(code: int) -> int:
    return 1 << code if code < 128 else _OTHER


def _category(name: str) -> int:
    for key, mask in _CATEGORIES.items():
        if name.endswith(f"NOT_{key}"):
            return _ALL & ~mask | _OTHER
        if name.endswith(key):
            return mask | _OTHER
    return _ALL


def _children(op: str, av: Any) -> list[list[Any]]:
    """The sub-sequences of an item that is not a repeat (groups, alternatives, lookarounds)."""
    if op == "SUBPATTERN":
        return [list(av[-1])]
    if op == "BRANCH":
        return [list(b) for b in av[1]]
    if op in ("ASSERT", "ASSERT_NOT"):
        return [list(av[1])]
    if op == "ATOMIC_GROUP":
        return [list(av)]
    if op == "GROUPREF_EXISTS":
        return [list(p) for p in av[1:] if p is not None]
    if op.endswith("REPEAT"):
        return [list(av[2])]
    return []
