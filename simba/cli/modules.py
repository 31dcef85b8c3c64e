"""``simba module``: create, pack, install, list, show and remove module packages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from simba.cli.terminal import Terminal


@click.group("module", short_help="Module packages: new, pack, install, list, show, remove.")
def module_group() -> None:
    """Module packages: create, pack, install, list, show and remove them.

    Packages are installed under $SIMBA_HOME/modules (default ~/.local/share/simba).
    """


@module_group.command("new")
@click.argument("name")
@click.option(
    "--lang",
    type=click.Choice(["python", "sh"]),
    default="python",
    show_default=True,
    help="python: a module written with the SDK; sh: a POSIX sh script.",
)
@click.option(
    "-d",
    "--directory",
    type=click.Path(path_type=Path, file_okay=False),
    help="Where to create the module (default: ./NAME without its namespace).",
)
def module_new(name: str, lang: str, directory: Path | None) -> None:
    """Create a module that validates, runs and packs as is.

    NAME is [NAMESPACE/]NAME (namespace default: local).  The directory gets
    descriptor.json, the module, tests/test_module.py and a sample scenario.json.
    """
    from simba.packages.scaffold import new_module

    created = new_module(name, lang=lang, directory=directory)
    terminal = Terminal()
    terminal.line(f"created {created.full_name} ({lang}) in {created.directory}:")
    for file in created.files:
        terminal.line(f"  {file}")
    terminal.line(
        f"next: simba run {created.directory / 'scenario.json'}; "
        f"simba module pack {created.directory}"
    )


@module_group.command("pack")
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False))
@click.option(
    "-o",
    "--output-directory",
    type=click.Path(path_type=Path, file_okay=False),
    help="Where to write the archive (default: the working directory).",
)
def module_pack(directory: Path, output_directory: Path | None) -> None:
    """Pack a module directory into a ZIP archive.

    Writes <namespace>-<name>-<version>.zip; the same sources give the same sha256.
    """
    from simba.packages.store import pack

    result = pack(directory, output_directory)
    terminal = Terminal()
    terminal.line(f"packed {result.descriptor.ident} ({result.files} files): {result.archive}")
    terminal.line(f"sha256 {result.sha256}")


@module_group.command("install")
@click.argument("archive", type=click.Path(path_type=Path))
@click.option(
    "--force", is_flag=True, help="Replace an installed version made from a different archive."
)
def module_install(archive: Path, force: bool) -> None:
    """Install a package archive, refusing unsafe ones.

    Every entry of ARCHIVE is checked before anything is written; installing the same
    archive again does nothing.
    """
    from simba.packages.store import install

    result = install(archive, force=force)
    package = result.package
    if result.action == "unchanged":
        Terminal().line(f"{package.ident} is already installed from this archive; nothing to do")
        return
    Terminal().line(f"{result.action} {package.ident} into {package.directory}")


@module_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the packages as JSON.")
def module_list(as_json: bool) -> None:
    """List the installed packages."""
    from simba.packages.store import modules_root, scan

    packages, damaged = scan()
    terminal = Terminal()
    for sentence in damaged:
        terminal.err.write(f"warning: {sentence}\n")
    if as_json:
        terminal.json([_package_facts(p) for p in packages])
        return
    if not packages:
        terminal.line(f"no packages installed in {modules_root()}")
        return
    rows = [
        (p.descriptor.full_name, str(p.descriptor.version), p.descriptor.description)
        for p in packages
    ]
    terminal.table(f"packages in {modules_root()}", ("package", "version", "description"), rows)


@module_group.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the package's facts as JSON.")
def module_show(name: str, as_json: bool) -> None:
    """Show an installed package.

    NAME is NAMESPACE/NAME, optionally with @VERSION or @RANGE (default: the newest).
    """
    import json as jsonlib

    from simba.packages.store import resolve

    facts = _package_facts(resolve(name))
    terminal = Terminal()
    if as_json:
        terminal.json(facts)
        return
    for key, value in facts.items():
        if value in (None, "", [], {}):
            continue
        text = value if isinstance(value, str) else jsonlib.dumps(value, ensure_ascii=False)
        terminal.line(f"{key + ':':<18} {text}")


@module_group.command("remove")
@click.argument("name")
def module_remove(name: str) -> None:
    """Remove installed versions of a package.

    NAME is NAMESPACE/NAME[@VERSION or @RANGE]; without @, every version is removed.
    """
    from simba.packages.store import remove

    for package in remove(name):
        Terminal().line(f"removed {package.ident} ({package.directory})")


def _package_facts(package: Any) -> dict[str, Any]:
    descriptor = package.descriptor
    requires = descriptor.document.get("requires", {})
    return {
        "name": descriptor.full_name,
        "version": str(descriptor.version),
        "description": descriptor.description,
        "authors": list(descriptor.authors),
        "license": descriptor.license,
        "homepage": descriptor.homepage,
        "command": descriptor.document["command"],
        "requires": requires,
        "moduleDataSchema": descriptor.module_data_schema,
        "directory": str(package.directory),
        "archive": package.archive,
        "sha256": package.sha256,
    }
