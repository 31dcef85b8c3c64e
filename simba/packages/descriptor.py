"""Package descriptors: ``descriptor.json`` at the root of a module package, checked.

The descriptor says who the module is (``namespace/name``, a semantic ``version``),
how to run it (``command``, relative to the package root), what moduleData it accepts
(``moduleDataSchema``) and what it needs (``requires``).  The schema ``descriptor`` is
the source of truth for its shape; this module adds what a schema cannot say.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simba import placeholders, schemas
from simba.commands import program_of
from simba.errors import DescriptorError, PackageError, Problem
from simba.jsonfile import JSONFileError, read_json
from simba.packages.schema_rules import schema_problems
from simba.packages.versions import Range, Version, VersionError

DESCRIPTOR = "descriptor.json"
#: Largest descriptor.json read.
MAX_DESCRIPTOR_BYTES = 1 << 20


@dataclass(frozen=True, slots=True, kw_only=True)
class Descriptor:
    """A package's descriptor.json, checked."""

    namespace: str
    name: str
    version: Version
    command: str | tuple[str, ...]
    module_data_schema: Any
    """A JSON Schema (an object or a boolean), or None when the package has none."""
    requires_python: Range | None
    requires_executables: tuple[str, ...]
    description: str
    authors: tuple[str, ...]
    license: str | None
    homepage: str | None
    document: Mapping[str, Any]
    image: str | None = None
    """A container image pinned by digest (``name@sha256:…``) the module runs in."""

    @property
    def full_name(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def ident(self) -> str:
        """``namespace/name@version``: exactly this package."""
        return f"{self.full_name}@{self.version}"

    @property
    def archive_name(self) -> str:
        return f"{self.namespace}-{self.name}-{self.version}.zip"


def parse_descriptor(document: Any, *, file: str) -> Descriptor:
    """Check a descriptor document; raises :class:`DescriptorError` listing every problem."""
    problems = schemas.validate("descriptor", document, file=file)
    if not problems:
        problems += _descriptor_problems(document, file)
    if problems:
        raise DescriptorError(file, problems)
    requires = document.get("requires", {})
    command = document["command"]
    python = requires.get("python")
    return Descriptor(
        namespace=document["namespace"],
        name=document["name"],
        version=Version.parse(document["version"]),
        command=command if isinstance(command, str) else tuple(command),
        module_data_schema=document.get("moduleDataSchema"),
        requires_python=None if python is None else Range.parse(python),
        requires_executables=tuple(requires.get("executables", ())),
        description=document.get("description", ""),
        authors=tuple(document.get("authors", ())),
        license=document.get("license"),
        homepage=document.get("homepage"),
        document=document,
        image=document.get("image"),
    )


def _descriptor_problems(document: dict[str, Any], file: str) -> list[Problem]:
    """What the schema cannot say: the schema, the range, placeholders, the program."""
    problems: list[Problem] = []
    if "moduleDataSchema" in document:
        why = schemas.schema_error(document["moduleDataSchema"])
        if why:
            problems.append(Problem(file, "moduleDataSchema", why))
        else:
            problems += schema_problems(
                document["moduleDataSchema"], file=file, where="moduleDataSchema"
            )
    python = document.get("requires", {}).get("python")
    if python is not None:
        try:
            Range.parse(python)
        except VersionError as exc:
            problems.append(Problem(file, "requires.python", str(exc)))
    command = document["command"]
    items = [command] if isinstance(command, str) else list(command)
    for i, item in enumerate(items):
        where = "command" if isinstance(command, str) else f"command[{i}]"
        for name in placeholders.names(item):
            if name not in placeholders.NAMES:
                message = placeholders.describe_unknown(name, set(placeholders.NAMES))
                problems.append(Problem(file, where, message))
    program = program_of(command)
    if program is not None and not placeholders.names(program):
        if program.startswith("/"):
            problems.append(
                Problem(
                    file,
                    "command",
                    f"the program {program!r} must be a path relative to the package root, "
                    "a program on PATH, or start with a placeholder such as {python}",
                )
            )
        elif ".." in program.split("/"):
            problems.append(
                Problem(file, "command", f"the program {program!r} must stay inside the package")
            )
    return problems


def _program_in_package(descriptor: Descriptor) -> tuple[str, bool] | None:
    """The package-relative path of the descriptor's program, if it may name a package file.

    The path is normalised (``./run.sh`` is ``run.sh``); the flag says whether the
    command wrote it as a path (with a slash), so that it must be in the package rather
    than possibly on PATH.
    """
    program = program_of(descriptor.command)
    if program is None:
        return None
    if program.startswith("{packageDir}/"):
        program = program.removeprefix("{packageDir}/")
        return posixpath.normpath(program), True
    if placeholders.names(program) or program.startswith("/"):
        return None
    return posixpath.normpath(program), "/" in program


def check_program(
    descriptor: Descriptor, lookup: Callable[[str], bool | None], file: str
) -> list[Problem]:
    """Problems with the program the descriptor names inside the package.

    ``lookup(path)`` says whether the package file ``path`` is executable, or None if
    there is no such file.
    """
    found = _program_in_package(descriptor)
    if found is None:
        return []
    relative, is_path = found
    executable = lookup(relative)
    if executable is None:
        if not is_path:
            return []  # a bare name not in the package: a program on PATH
        return [Problem(file, "command", f"the program {relative!r} is not in the package")]
    if not executable:
        return [
            Problem(
                file,
                "command",
                f"the program {relative!r} is not executable; run 'chmod +x {relative}' "
                'or name its interpreter in the command (e.g. ["{python}", '
                f'"{{packageDir}}/{relative}"])',
            )
        ]
    return []


def read_descriptor(directory: Path) -> Descriptor:
    """The checked descriptor.json of a package directory; raises :class:`PackageError`."""
    file = directory / DESCRIPTOR
    try:
        document = read_json(file, max_bytes=MAX_DESCRIPTOR_BYTES)
    except FileNotFoundError:
        raise PackageError(
            f"{directory} has no {DESCRIPTOR}; create one ('simba module new' writes an "
            "example, 'simba schema descriptor' lists its fields)"
        ) from None
    except JSONFileError as exc:
        raise PackageError(f"cannot read {file}: {exc}") from None
    return parse_descriptor(document, file=str(file))
