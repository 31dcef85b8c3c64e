"""Render SIMBA's JSON Schemas as reference tables at build time.

Usage in reStructuredText::

    .. simba-schema:: driver

reads ``<simba_schema_dir>/driver.json`` and renders one table of its top-level
properties (key, type, default, description), followed by a table for every nested
object it reaches: array items (``scheduleIntervals[]``), objects with their own
properties, and values of objects keyed by name (``services.<name>``).  ``$ref``
pointers into ``$defs`` are followed.  Required keys, conditional requirements
(``allOf`` / ``if`` / ``then``), annotation keys (``patternProperties``) and whether
other keys are rejected (``additionalProperties: false``) are stated below each table.

Options:

``:def: NAME``
    Render ``$defs/NAME`` instead of the schema's root.
``:no-nested:``
    Render only the one table.

Since the tables are made from the schema files themselves, the reference cannot
drift from what SIMBA validates.  The schema file is a build dependency, so editing it
rebuilds the page.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

__version__ = "1.0"

Schema = dict[str, Any]

_TYPE_WORDS = {
    "object": "object",
    "array": "array",
    "string": "string",
    "integer": "integer",
    "number": "number",
    "boolean": "boolean",
    "null": "null",
}


class SchemaError(Exception):
    pass


class _Resolver:
    """Follows local ``$ref`` pointers (``#/$defs/...``) within one schema document."""

    def __init__(self, root: Schema, name: str) -> None:
        self.root = root
        self.name = name

    def resolve(self, schema: Schema) -> tuple[Schema, str | None]:
        """The schema a ``$ref`` points at (merged with sibling keywords) and the def's name."""
        ref = schema.get("$ref")
        if ref is None:
            return schema, None
        if not ref.startswith("#/"):
            raise SchemaError(f"{self.name}: only local $ref pointers are supported, not {ref!r}")
        target: Any = self.root
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(target, dict) or part not in target:
                raise SchemaError(f"{self.name}: $ref {ref!r} points at nothing")
            target = target[part]
        siblings = {k: v for k, v in schema.items() if k != "$ref"}
        # Without sibling keywords the target itself is returned, so that its identity
        # names it (nested tables are looked up by identity).
        merged = {**target, **siblings} if siblings else target
        inner, _ = self.resolve(merged) if "$ref" in merged else (merged, None)
        return inner, ref.rsplit("/", 1)[-1]


# -- building blocks ---------------------------------------------------------------------


def _literal(text: str) -> nodes.literal:
    return nodes.literal(text, text)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _paragraph(*children: nodes.Node | str) -> nodes.paragraph:
    paragraph = nodes.paragraph()
    for child in children:
        paragraph += nodes.Text(child) if isinstance(child, str) else child
    return paragraph


def _join(parts: list[list[nodes.Node | str]], separator: str) -> list[nodes.Node | str]:
    joined: list[nodes.Node | str] = []
    for i, part in enumerate(parts):
        if i:
            joined.append(separator)
        joined.extend(part)
    return joined


def _is_object_with_properties(schema: Schema) -> bool:
    return isinstance(schema.get("properties"), dict) and bool(schema["properties"])


#: What the schemas' regular expressions mean, in the words the Type column shows.  A
#: pattern not listed here is shown as "see the pattern"; either way the regular
#: expression itself goes below the description, where it can wrap, so that it never
#: widens the Type column (and pushes the Description column off a narrow screen).
_PATTERN_WORDS = {
    r"^[^\u0000]*$": "no NUL character",
    r"^[^=\u0000]+$": "no '=' or NUL character",
    r"^[^/]+$": "no '/'",
    r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$": (
        "letters, digits, '_', '.', '-'; not starting with '.' or '-'"
    ),
    r"^(?![.-])(?!\s)(?!.*\s$)[^\u0000-\u001f\u007f-\u009f/\\\u200b-\u200f\u2028-\u202e"
    r"\u2060-\u2069\ufeff]+$": (
        "one path component: spaces, ':', '=' and any letters; no '/', '\\' or control "
        "characters; not starting with '.' or '-'"
    ),
    r"^[A-Za-z0-9_][A-Za-z0-9_.-]*/[A-Za-z0-9_][A-Za-z0-9_.-]*(@.*)?$": (
        "namespace/name, optionally @VERSION or @RANGE"
    ),
    r"^P(?!$)(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$": (
        "an ISO 8601 duration of weeks, days, hours, minutes, seconds"
    ),
    r"^P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$": (
        "an ISO 8601 duration"
    ),
    r"^\d+:[0-5]\d:[0-5]\d$": "HH:MM:SS",
    r"^https?://": "an http:// or https:// URL",
    r"^list:": "starting with 'list:'",
    r"^[0-9a-f]{64}$": "a SHA-256 digest in lowercase hex",
    r"^[^\u0000\s]+$": "no white space or NUL character",
    r"^[^\u0000,]+$": "no ',' or NUL character",
    r"^[^\s@]+@sha256:[0-9a-f]{64}$": "an image pinned by digest: NAME@sha256:DIGEST",
}


def _pattern_words(pattern: str) -> str:
    words = _PATTERN_WORDS.get(pattern)
    if words is not None:
        return words
    if pattern.startswith("^(0|[1-9]\\d*)\\.(0|[1-9]\\d*)\\.(0|[1-9]\\d*)"):
        return "a semantic version (MAJOR.MINOR.PATCH)"
    return "see the pattern"


class _Renderer:
    def __init__(self, resolver: _Resolver) -> None:
        self.resolver = resolver
        #: The patterns met while describing the type of the current row.
        self.patterns: list[str] = []

    # -- the type column -----------------------------------------------------------------

    def type_of(self, schema: Schema, nested: dict[int, str]) -> list[nodes.Node | str]:
        """Inline nodes describing the type of ``schema`` with its constraints."""
        schema, _ = self.resolver.resolve(schema)
        if "const" in schema:
            return [_literal(_json(schema["const"]))]
        if "enum" in schema:
            return _join([[_literal(_json(v))] for v in schema["enum"]], " | ")
        for combinator in ("anyOf", "oneOf"):
            if combinator in schema:
                return _join(
                    [self.type_of(option, nested) for option in schema[combinator]], " or "
                )
        kind = schema.get("type")
        if isinstance(kind, list):
            words: list[nodes.Node | str] = [" or ".join(_TYPE_WORDS.get(k, k) for k in kind)]
        elif kind is None:
            words = ["any JSON value"]
        else:
            words = [_TYPE_WORDS.get(kind, str(kind))]
        if kind == "array" and isinstance(schema.get("items"), dict):
            items, _ = self.resolver.resolve(schema["items"])
            if _is_object_with_properties(items):
                label = nested.get(id(items), "objects")
                words = ["array of objects (see ", _literal(label), ")"]
            else:
                words = ["array of ", *self.type_of(items, nested)]
        elif kind == "object":
            extra = schema.get("additionalProperties")
            if isinstance(extra, dict) and extra:
                values, _ = self.resolver.resolve(extra)
                if _is_object_with_properties(values):
                    label = nested.get(id(values), "objects")
                    words = ["object of objects (see ", _literal(label), ")"]
                else:
                    words = ["object with ", *self.type_of(values, nested), " values"]
            elif _is_object_with_properties(schema) and id(schema) in nested:
                words = ["object (see ", _literal(nested[id(schema)]), ")"]
        return words + self.constraints(schema)

    def constraints(self, schema: Schema) -> list[nodes.Node | str]:
        notes: list[list[nodes.Node | str]] = []
        if "format" in schema:
            notes.append([f"format {schema['format']}"])
        if "minimum" in schema:
            notes.append([f"≥ {schema['minimum']}"])
        if "exclusiveMinimum" in schema:
            notes.append([f"> {schema['exclusiveMinimum']}"])
        if "maximum" in schema:
            notes.append([f"≤ {schema['maximum']}"])
        if "minLength" in schema:
            notes.append(
                ["non-empty" if schema["minLength"] == 1 else f"≥ {schema['minLength']} characters"]
            )
        if "maxLength" in schema:
            notes.append([f"at most {schema['maxLength']} characters"])
        if "minItems" in schema:
            notes.append(
                [f"at least {schema['minItems']} item{'s' if schema['minItems'] != 1 else ''}"]
            )
        if schema.get("uniqueItems"):
            notes.append(["no duplicates"])
        if "pattern" in schema:
            notes.append([_pattern_words(schema["pattern"])])
            if schema["pattern"] not in self.patterns:
                self.patterns.append(schema["pattern"])
        if not notes:
            return []
        return [" (", *_join(notes, ", "), ")"]

    # -- tables --------------------------------------------------------------------------

    def description_of(self, schema: Schema) -> str:
        if "description" in schema:
            return str(schema["description"])
        resolved, _ = self.resolver.resolve(schema)
        return str(resolved.get("description", ""))

    def default_of(self, schema: Schema) -> list[nodes.Node | str]:
        resolved, _ = self.resolver.resolve(schema)
        if "default" in resolved:
            return [_literal(_json(resolved["default"]))]
        return []

    def collect(self, schema: Schema, label: str, out: list[tuple[str, Schema]]) -> None:
        """Every nested object schema below ``schema``, depth first, with its label."""
        for key, child in schema.get("properties", {}).items():
            self._collect_child(child, f"{label}.{key}" if label else key, out)
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict) and extra:
            self._collect_child(extra, f"{label}.<name>" if label else "<name>", out, value=True)

    def _collect_child(
        self, child: Schema, label: str, out: list[tuple[str, Schema]], *, value: bool = False
    ) -> None:
        resolved, _ = self.resolver.resolve(child)
        if not value:
            if resolved.get("type") == "array" and isinstance(resolved.get("items"), dict):
                items, _ = self.resolver.resolve(resolved["items"])
                if _is_object_with_properties(items):
                    self._add(items, f"{label}[]", out)
                return
            extra = resolved.get("additionalProperties")
            if resolved.get("type") == "object" and isinstance(extra, dict) and extra:
                values, _ = self.resolver.resolve(extra)
                if _is_object_with_properties(values):
                    self._add(values, f"{label}.<name>", out)
                    return
        if _is_object_with_properties(resolved):
            self._add(resolved, label, out)

    def _add(self, schema: Schema, label: str, out: list[tuple[str, Schema]]) -> None:
        if any(existing is schema for _, existing in out):
            return
        out.append((label, schema))
        self.collect(schema, label, out)

    def table(self, schema: Schema, nested: dict[int, str]) -> nodes.table:
        required = set(schema.get("required", []))
        table = nodes.table(classes=["simba-schema"])
        group = nodes.tgroup(cols=4)
        table += group
        for width in (18, 26, 12, 44):
            group += nodes.colspec(colwidth=width)
        head = nodes.thead()
        group += head
        row = nodes.row()
        for title in ("Key", "Type", "Default", "Description"):
            row += nodes.entry("", _paragraph(title))
        head += row
        body = nodes.tbody()
        group += body
        for key, child in schema.get("properties", {}).items():
            row = nodes.row()
            key_cell = _paragraph(_literal(key))
            if key in required:
                key_cell += nodes.Text(" ")
                key_cell += nodes.emphasis("required", "required")
            row += nodes.entry("", key_cell)
            self.patterns = []
            row += nodes.entry("", _paragraph(*self.type_of(child, nested)))
            row += nodes.entry("", _paragraph(*self.default_of(child)))
            description = nodes.entry("", _paragraph(self.description_of(child)))
            for pattern in self.patterns:
                description += _paragraph("Pattern: ", _literal(pattern))
            row += description
            body += row
        return table

    def notes(self, schema: Schema) -> list[nodes.Node]:
        """Sentences about requirements and keys not in the table."""
        items: list[nodes.paragraph] = []
        for key in schema.get("required", []):
            if key not in schema.get("properties", {}):
                items.append(_paragraph("The key ", _literal(key), " is required."))
        for rule in schema.get("allOf", []):
            sentence = self._conditional(rule)
            if sentence is not None:
                items.append(sentence)
        for pattern, child in schema.get("patternProperties", {}).items():
            text = child.get("description") if isinstance(child, dict) else None
            items.append(
                _paragraph(
                    "Keys matching ",
                    _literal(pattern),
                    " are annotations: accepted and ignored." if not text else f" — {text}",
                )
            )
        if schema.get("additionalProperties") is False:
            items.append(_paragraph("Any other key is an error (with a did-you-mean hint)."))
        if not items:
            return []
        bullet = nodes.bullet_list()
        for paragraph in items:
            bullet += nodes.list_item("", paragraph)
        return [bullet]

    @staticmethod
    def _conditional(rule: Schema) -> nodes.paragraph | None:
        condition = rule.get("if", {}).get("properties", {})
        then = rule.get("then", {})
        if len(condition) != 1 or not then:
            return None
        key, test = next(iter(condition.items()))
        if "const" not in test:
            return None
        parts: list[nodes.Node | str] = [
            "When ",
            _literal(key),
            " is ",
            _literal(_json(test["const"])),
        ]
        clauses: list[list[nodes.Node | str]] = []
        if then.get("required"):
            clauses.append(
                ["also required: ", *_join([[_literal(k)] for k in then["required"]], ", ")]
            )
        forbidden: list[str] = []
        negation = then.get("not", {})
        forbidden += negation.get("required", [])
        for option in negation.get("anyOf", []):
            forbidden += option.get("required", [])
        if forbidden:
            clauses.append(["not allowed: ", *_join([[_literal(k)] for k in forbidden], ", ")])
        if not clauses:
            return None
        return _paragraph(*parts, ": ", *_join(clauses, "; "), ".")


class SchemaDirective(SphinxDirective):
    """``.. simba-schema:: NAME`` renders ``NAME.json`` from ``simba_schema_dir``."""

    required_arguments = 1
    option_spec = {"def": directives.unchanged_required, "no-nested": directives.flag}

    def run(self) -> list[nodes.Node]:
        name = self.arguments[0]
        path = Path(self.config.simba_schema_dir) / f"{name}.json"
        self.env.note_dependency(str(path))
        try:
            root = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise self.error(f"cannot read the schema {path}: {exc}") from exc
        resolver = _Resolver(root, path.name)
        renderer = _Renderer(resolver)
        schema: Schema = root
        if "def" in self.options:
            definition = self.options["def"]
            try:
                schema = root["$defs"][definition]
            except KeyError:
                raise self.error(f"{path.name} has no $defs/{definition}") from None
        try:
            nested: list[tuple[str, Schema]] = []
            if "no-nested" not in self.options:
                renderer.collect(schema, "", nested)
            labels = {id(child): label for label, child in nested}
            result: list[nodes.Node] = []
            if schema.get("description") and "def" not in self.options:
                result.append(_paragraph(str(schema["description"])))
            result.append(renderer.table(schema, labels))
            result += renderer.notes(schema)
            for label, child in nested:
                result.append(nodes.rubric("", "", _literal(label)))
                described = child.get("description")
                if described:
                    result.append(_paragraph(str(described)))
                result.append(renderer.table(child, labels))
                result += renderer.notes(child)
        except SchemaError as exc:
            raise self.error(str(exc)) from exc
        return result


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_config_value("simba_schema_dir", "", "env", types=frozenset({str}))
    app.add_directive("simba-schema", SchemaDirective)
    return {"version": __version__, "parallel_read_safe": True, "parallel_write_safe": True}
