"""The JSON Schemas in ``schema/``: finding them, and validating documents against them.

The schemas are the one source of truth for the shape of every document SIMBA reads;
this module turns their verdicts into :class:`~simba.errors.Problem` records with a
plain sentence and a JSON path.  jsonschema is imported on first use only.

Validation never leaves the process: every validator resolves ``$ref`` through a
registry that refuses to retrieve anything (no network, no file), so a reference that
is not inside the schema itself (or one of the drafts' meta-schemas) is a problem, not a
download.  A package's schema is also validated under a CPU-time bound, so a ``pattern``
that backtracks without end stops with a problem instead of spinning
(:mod:`simba.packages.schema_rules` refuses such schemas at pack and install already).
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import json
import re
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from simba.errors import Problem
from simba.names import NAME_PATTERN, NAME_RULE
from simba.names import RULE as IDENTIFIER_RULE

NAMES = (
    "driver",
    "schedule",
    "module",
    "status",
    "descriptor",
    "sweep",
    "checkpoint",
    "run",
    "trace",
    "compare",
)

#: CPU seconds one validation against a package's schema may take (its patterns).
PACKAGE_SCHEMA_CPU_SECONDS = 2.0
#: Deepest nesting of objects and lists a package's schema may have.
MAX_SCHEMA_DEPTH = 100


def schema_dir() -> Path:
    """The directory holding the schema files (inside the wheel, or the source tree)."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "schema", here.parent / "schema"):
        if (candidate / "driver.json").is_file():
            return candidate
    raise FileNotFoundError(f"SIMBA's schema files are missing next to {here}; reinstall simba")


def schema_path(name: str) -> Path:
    if name not in NAMES:
        raise KeyError(name)
    return schema_dir() / f"{name}.json"


@functools.cache
def load_schema(name: str) -> dict[str, Any]:
    with schema_path(name).open(encoding="utf-8") as handle:
        schema: dict[str, Any] = json.load(handle)
    return schema


@functools.cache
def _validator(name: str) -> Any:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(load_schema(name), registry=_offline_registry())


@functools.cache
def _offline_registry() -> Any:
    """A ``referencing`` registry that retrieves nothing: only the schema's own parts resolve."""
    from referencing import Registry
    from referencing.exceptions import NoSuchResource

    def refuse(uri: str) -> Any:
        raise NoSuchResource(ref=uri)  # type: ignore[call-arg]

    return Registry(retrieve=refuse)  # type: ignore[call-arg]


def validate(name: str, document: object, *, file: str, prefix: str = "") -> list[Problem]:
    """Every problem of ``document`` against schema ``name``, sorted by position."""
    return _problems(_validator(name), document, file=file, prefix=prefix)


def validate_against(
    schema: object, document: object, *, file: str, prefix: str = ""
) -> list[Problem]:
    """Every problem of ``document`` against a schema given as a value (e.g. a package's).

    The schema's ``$schema`` picks the draft (default 2020-12); call :func:`schema_error`
    first, since an invalid schema raises here.  Nothing is fetched: a ``$ref`` outside
    the schema is a problem; so is a validation that takes more than
    :data:`PACKAGE_SCHEMA_CPU_SECONDS` of CPU time (a pattern that backtracks without end).
    """
    from jsonschema import Draft202012Validator
    from jsonschema.validators import validator_for
    from referencing.exceptions import Unresolvable

    validator_class = validator_for(schema, default=Draft202012Validator)
    validator = validator_class(schema, registry=_offline_registry())
    try:
        with _cpu_bound(PACKAGE_SCHEMA_CPU_SECONDS):
            return _problems(validator, document, file=file, prefix=prefix)
    except Unresolvable as exc:
        message = _unresolvable(exc)
    except RecursionError:
        message = "it nests too deeply to be checked against the schema"
    except SchemaTimeoutError:
        message = (
            f"checking this against the schema took more than {PACKAGE_SCHEMA_CPU_SECONDS:g} "
            "s of CPU time, so it was stopped (a 'pattern' that backtracks without end?); "
            "ask the schema's author to simplify its patterns"
        )
    return [Problem(file, prefix, message)]


def _unresolvable(exc: Exception) -> str:
    """A sentence for a reference that did not resolve (SIMBA's registry retrieves nothing)."""
    from referencing.exceptions import NoSuchAnchor, PointerToNowhere

    cause = getattr(exc, "_wrapped", exc)  # jsonschema wraps referencing's error
    if isinstance(cause, PointerToNowhere):
        return f"the schema refers to '#{cause.ref}', which is not in it; fix the reference"
    if isinstance(cause, NoSuchAnchor):
        return f"the schema refers to the anchor '#{cause.anchor}', which it does not define"
    return (
        f"the schema refers to {getattr(cause, 'ref', '?')!r}, which SIMBA does not fetch; a "
        "schema may refer only to its own parts, such as '#/$defs/name'"
    )


class SchemaTimeoutError(Exception):
    """A validation ran out of its CPU-time bound."""


@contextlib.contextmanager
def _cpu_bound(seconds: float) -> Iterator[None]:
    """Raise :class:`SchemaTimeoutError` in the block after ``seconds`` of CPU time.

    Python's regular-expression engine checks for signals while it backtracks, so a
    CPU timer (``ITIMER_VIRTUAL``) stops a runaway pattern.  Signals reach only the main
    thread, so elsewhere, or when the timer is in use already, the block runs unbounded.
    """
    usable = (
        hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
        and signal.getitimer(signal.ITIMER_VIRTUAL)[0] == 0
    )
    if not usable:
        yield
        return

    def expire(signum: int, frame: object) -> None:
        raise SchemaTimeoutError

    previous = signal.signal(signal.SIGVTALRM, expire)
    signal.setitimer(signal.ITIMER_VIRTUAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_VIRTUAL, 0)
        signal.signal(signal.SIGVTALRM, signal.SIG_DFL if previous is None else previous)


def schema_error(schema: object) -> str | None:
    """Why ``schema`` is not a valid JSON Schema, in one sentence; None if it is one."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError
    from jsonschema.validators import validator_for

    if not isinstance(schema, (dict, bool)):
        return "a JSON Schema must be an object or true/false"
    if _depth(schema) > MAX_SCHEMA_DEPTH:
        return f"it nests objects and lists more than {MAX_SCHEMA_DEPTH} levels deep"
    try:
        validator_for(schema, default=Draft202012Validator).check_schema(schema)
    except SchemaError as exc:
        where = _join("", exc.path)
        return f"it is not a valid JSON Schema ({where + ': ' if where else ''}{exc.message})"
    except RecursionError:  # a pattern nested too deeply for Python's regex parser
        return "it cannot be checked: a pattern in it nests groups too deeply"
    return None


def _depth(value: object) -> int:
    """How deeply objects and lists nest in ``value`` (0 for a scalar), without recursion."""
    deepest = 0
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        current, depth = stack.pop()
        if isinstance(current, dict):
            current = list(current.values())
        if isinstance(current, list):
            deepest = max(deepest, depth + 1)
            stack.extend((item, depth + 1) for item in current)
    return deepest


def _problems(validator: Any, document: object, *, file: str, prefix: str) -> list[Problem]:
    problems = [
        Problem(file, _join(prefix, error.absolute_path), _sentence(error))
        for error in _leaf_errors(validator.iter_errors(document))
    ]
    return sorted(set(problems), key=lambda p: (p.path, p.message))


def _leaf_errors(errors: Any) -> Iterator[Any]:
    """Descend into anyOf/oneOf to the most telling error, as jsonschema's best_match does."""
    for error in errors:
        yield _deepest(error) if error.validator in ("anyOf", "oneOf") and error.context else error


def _deepest(error: Any) -> Any:
    from jsonschema.exceptions import best_match

    # An anyOf over "type" alternatives reads best as the parent's own message.
    if all(sub.validator in ("type", "enum", "const") for sub in error.context):
        return error
    # best_match descends from the parent, preferring the alternative whose type matches
    # the value (0 for a timeout: "greater than 0", not "must be a string").
    return best_match([error])


def _join(prefix: str, path: Any) -> str:
    text = prefix
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _describe(value: object) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


_TYPE_NAMES = {
    "object": "an object",
    "array": "a list",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "null": "null",
}


def _sentence(error: Any) -> str:
    """A plain sentence for one jsonschema error."""
    kind, expected, value = error.validator, error.validator_value, error.instance
    schema = error.schema if isinstance(error.schema, dict) else {}
    if kind == "required":
        missing = next((k for k in expected if isinstance(value, dict) and k not in value), "?")
        return f"the required key '{missing}' is missing"
    if kind == "additionalProperties":
        known = sorted(schema.get("properties", {}))
        patterns = list(schema.get("patternProperties", {}))
        extras = sorted(
            key
            for key in (value if isinstance(value, dict) else {})
            if key not in known and not any(re.search(p, key) for p in patterns)
        )
        parts = []
        for key in extras:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            parts.append(f"unknown key '{key}'{hint}")
        return "; ".join(parts) + f"; known keys are {', '.join(known)}"
    if kind == "type":
        names = expected if isinstance(expected, list) else [expected]
        wanted = " or ".join(_TYPE_NAMES.get(str(n), str(n)) for n in names)
        return f"must be {wanted}, not {_describe(value)}"
    if kind in ("anyOf", "oneOf"):
        return f"{_describe(value)} is not allowed here; expected {_expectation(schema)}"
    if kind == "enum":
        return f"{_describe(value)} is not one of {', '.join(_describe(v) for v in expected)}"
    if kind == "const":
        return f"must be {_describe(expected)}, not {_describe(value)}"
    if kind == "minimum":
        return f"must be at least {expected}, not {_describe(value)}"
    if kind == "maximum":
        return f"must be at most {expected}, not {_describe(value)}"
    if kind == "exclusiveMinimum":
        return f"must be greater than {expected}, not {_describe(value)}"
    if kind == "minItems":
        return f"must have at least {expected} item{'s' if expected != 1 else ''}"
    if kind == "minLength":
        return "must not be empty"
    if kind == "maxLength":
        return f"must be at most {expected} characters long"
    if kind == "uniqueItems":
        return "must not list the same item twice"
    if kind == "pattern":
        return f"{_describe(value)} is not allowed here ({_pattern_hint(schema)})"
    return str(error.message)


def _expectation(schema: dict[str, Any]) -> str:
    options = []
    for option in schema.get("anyOf", schema.get("oneOf", [])):
        if "type" in option:
            options.append(_TYPE_NAMES.get(option["type"], str(option["type"])))
        elif "const" in option:
            options.append(_describe(option["const"]))
        elif "enum" in option:
            options.extend(_describe(v) for v in option["enum"])
        elif "pattern" in option or "$ref" in option:
            options.append("an ISO 8601 duration such as PT5M")
    return " or ".join(options) or "another value"


def _pattern_hint(schema: dict[str, Any]) -> str:
    pattern = str(schema.get("pattern", ""))
    if pattern == NAME_PATTERN:
        return NAME_RULE
    if "\\u0000" in pattern:
        return "it must not contain a NUL character" + (" or '='" if "=" in pattern else "")
    if pattern.startswith("^P") and "Y)" not in pattern:
        return "expected an ISO 8601 duration without years or months, such as PT30S, PT5M or P1D"
    if pattern.startswith("^P"):
        return "expected an ISO 8601 duration such as PT10M, P1D, P1W or P1M"
    if pattern.startswith("^(0|[1-9]"):
        return "expected a semantic version such as 1.0.0 or 2.1.0-rc.1"
    if "]*/[" in pattern:
        return "write namespace/name, optionally with @VERSION or @RANGE, e.g. demo/sir@>=1.2,<2"
    if "A-Za-z0-9" in pattern:
        return IDENTIFIER_RULE
    return f"it must match {pattern}"
