"""What a schedule entry runs: its ``command`` or its installed ``package``, checked.

The program must exist before the run starts, so it is resolved now (by the one rule
of :mod:`simba.commands`), with ``{python}`` and ``{packageDir}`` filled in; the other
placeholders are only checked for known names.  A package must be installed, accept
the entry's moduleData, and find the Python and programs it requires.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from simba import commands, placeholders, schemas
from simba.scenario.problems import Problems

if TYPE_CHECKING:
    from simba.packages.store import InstalledPackage


def check_placeholders(
    problems: Problems, file: Path, here: str, entry: dict[str, Any], *, with_package: bool
) -> None:
    """A problem for each placeholder in ``command`` or ``env`` that is not known here."""
    allowed = set(placeholders.NAMES) - (set() if with_package else {"packageDir"})
    command = entry.get("command", [])
    texts = (
        [(f"{here}.command", command)]
        if isinstance(command, str)
        else [(f"{here}.command[{i}]", item) for i, item in enumerate(command)]
    )
    texts += [(f"{here}.env.{key}", value) for key, value in entry.get("env", {}).items()]
    for where, text in texts:
        for name in dict.fromkeys(placeholders.names(text)):
            if name not in allowed:
                problems.add(file, where, placeholders.describe_unknown(name, allowed))


def entry_argv(
    problems: Problems,
    file: Path,
    here: str,
    entry: dict[str, Any],
    base_dir: Path,
    package: InstalledPackage | None,
) -> tuple[str, ...] | None:
    """The argv of an entry's ``command``, or of its package's command; None after a problem."""
    inside = "container" in entry
    if "command" in entry:
        return resolve_command(
            problems, file, f"{here}.command", entry["command"], base_dir, in_container=inside
        )
    if package is None:
        return None
    return resolve_command(
        problems,
        package.directory / "descriptor.json",
        "command",
        package.descriptor.command,
        package.directory,
        package_dir=package.directory,
        in_container=inside or package.descriptor.image is not None,
    )


def resolve_command(
    problems: Problems,
    file: Path,
    where: str,
    command: str | Sequence[str],
    base_dir: Path,
    *,
    package_dir: Path | None = None,
    in_container: bool = False,
) -> tuple[str, ...] | None:
    """The argv of ``command``: ``/bin/sh -c …``, or the resolved program and its arguments.

    ``in_container``: the program runs in an image, so only a file of ``base_dir`` (bound
    into the container at its own path) is resolved; any other name is the image's, and
    ``{python}`` is the image's ``python3``.
    """
    if isinstance(command, str):
        try:
            words = commands.split(command)
        except ValueError as exc:
            problems.add(file, where, f"cannot split the command: {exc}")
            return None
        if words is None:
            return commands.shell_argv(command)
        argv = words
    else:
        argv = list(command)
    # The program must exist before the run starts, so its placeholders are filled in now.
    if placeholders.RUN_NAMES.intersection(placeholders.names(argv[0])):
        problems.add(
            file,
            where,
            f"the program {argv[0]!r} lies in the run directory, which does not exist "
            "before the run; run it from elsewhere (placeholders of the run directory "
            "may be used in the arguments and env)",
        )
        return None
    values = {"python": "python3" if in_container else sys.executable}
    if package_dir is not None:
        values["packageDir"] = str(package_dir)
    try:
        first = placeholders.expand(argv[0], values)
    except KeyError:
        return None  # an unknown placeholder, reported by check_placeholders
    if in_container:
        return (_in_image(first, base_dir), *argv[1:])
    try:
        program = commands.find_program(first, base_dir)
    except commands.CommandError as exc:
        problems.add(file, where, str(exc))
        return None
    return (program, *argv[1:])


def _in_image(program: str, base_dir: Path) -> str:
    """A program of the scenario's directory as an absolute path; any other left as is."""
    path = base_dir / Path(program).expanduser()
    if ("/" in program or path.is_file()) and path.exists():
        return str(path)
    return program


def find_package(
    problems: Problems, file: Path, here: str, entry: dict[str, Any]
) -> InstalledPackage | None:
    """The installed package an entry names; its moduleData and requires checked."""
    from simba.packages.store import PackageError, PackageRef, resolve

    try:
        package = resolve(PackageRef.parse(entry["package"]))
    except PackageError as exc:
        problems.add(file, f"{here}.package", str(exc))
        return None
    what = f"module {entry['name']!r} ({package.descriptor.ident})"
    _check_module_data(problems, file, here, entry, package, what)
    if package.descriptor.image is None:  # an image brings its own Python and programs
        _check_requires(problems, file, here, entry, package, what)
    return package


def _check_module_data(
    problems: Problems,
    file: Path,
    here: str,
    entry: dict[str, Any],
    package: InstalledPackage,
    what: str,
) -> None:
    schema = package.descriptor.module_data_schema
    if schema is None:
        return
    for problem in schemas.validate_against(
        schema, entry.get("moduleData", {}), file=str(file), prefix=f"{here}.moduleData"
    ):
        problems.add(
            file, problem.path, f"{what}: {problem.message} (the package's moduleDataSchema)"
        )


def _check_requires(
    problems: Problems,
    file: Path,
    here: str,
    entry: dict[str, Any],
    package: InstalledPackage,
    what: str,
) -> None:
    from simba.packages.versions import Version

    descriptor = package.descriptor
    wanted = descriptor.requires_python
    python = Version(*sys.version_info[:3])
    if wanted is not None and not wanted.contains(python):
        problems.add(
            file,
            f"{here}.package",
            f"{what} needs Python {wanted}, but SIMBA runs on Python {python} "
            f"({sys.executable}); run SIMBA with a matching Python",
        )
    path = entry.get("env", {}).get("PATH", os.environ.get("PATH"))
    for program in descriptor.requires_executables:
        if commands.which(program, path) is None:
            problems.add(
                file,
                f"{here}.package",
                f"{what} needs the program {program!r}, which is not on PATH; install it "
                "or add its directory to PATH",
            )
