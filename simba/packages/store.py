"""The installed packages (DESIGN §10): installing, finding and removing them.

A package is a ZIP archive with ``descriptor.json`` at its root (see
:mod:`simba.packages.descriptor`) and the module's files.  Installed packages live in::

    $SIMBA_HOME/modules/<namespace>/<name>/<version>/     the unpacked files
        .simba-install.json                                 the archive's sha256 and name

``$SIMBA_HOME`` defaults to ``$XDG_DATA_HOME/simba``, that is ``~/.local/share/simba``.

Installing checks every entry before anything is written (:mod:`simba.packages.archive`)
and refuses the archive, naming each offending entry and the rule it breaks; the files
are unpacked into a temporary directory beside the target and renamed into place, so an
install that fails half-way leaves nothing behind.  Packing is in
:mod:`simba.packages.pack` (``pack`` and ``PackResult`` are re-exported here for older
importers).
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

from simba._version import __version__
from simba.errors import (
    ArchiveError,
    DescriptorError,
    PackageError,
    PackageNotFoundError,
    Violation,
)
from simba.jsonfile import JSONFileError, read_json, write_json
from simba.names import is_identifier
from simba.packages.archive import (
    INSTALL_RECORD,
    RULES,
    extract,
    hash_handle,
    inspect,
    open_archive,
)
from simba.packages.descriptor import Descriptor, read_descriptor
from simba.packages.pack import PackResult, pack
from simba.packages.versions import Range, VersionError, highest

__all__ = [
    "RULES",
    "ArchiveError",
    "Descriptor",
    "DescriptorError",
    "InstallResult",
    "InstalledPackage",
    "PackResult",
    "PackageError",
    "PackageNotFoundError",
    "PackageRef",
    "Violation",
    "install",
    "installed",
    "modules_root",
    "pack",
    "remove",
    "resolve",
    "scan",
    "simba_home",
]

_REF = re.compile(r"\s*([^/@\s]+)/([^/@\s]+)\s*(?:@(.*))?")


# -- where packages are installed --------------------------------------------------------


def simba_home() -> Path:
    """``$SIMBA_HOME``, else ``$XDG_DATA_HOME/simba``, else ``~/.local/share/simba``."""
    home = os.environ.get("SIMBA_HOME")
    if home:
        return Path(home).expanduser()
    data = os.environ.get("XDG_DATA_HOME")
    base = Path(data).expanduser() if data else Path.home() / ".local" / "share"
    return base / "simba"


def modules_root(home: Path | None = None) -> Path:
    return (home or simba_home()) / "modules"


@dataclass(frozen=True, slots=True, kw_only=True)
class InstalledPackage:
    """A package unpacked under ``$SIMBA_HOME/modules``."""

    descriptor: Descriptor
    directory: Path
    sha256: str
    archive: str
    """The file name of the archive it was installed from."""

    @property
    def ident(self) -> str:
        return self.descriptor.ident


@dataclass(frozen=True, slots=True, kw_only=True)
class PackageRef:
    """``namespace/name[@range]`` as a schedule entry or a command line names a package."""

    namespace: str
    name: str
    versions: Range
    text: str

    @property
    def full_name(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def parts(self) -> tuple[str, str]:
        return (self.namespace, self.name)

    @classmethod
    def parse(cls, text: str) -> PackageRef:
        """Parse ``namespace/name[@VERSION or RANGE]``; raises :class:`PackageError`."""
        match = _REF.fullmatch(text)
        if match is None or not all(is_identifier(p) for p in match.group(1, 2)):
            raise PackageError(
                f"{text!r} does not name a package; write namespace/name, optionally with "
                "@VERSION or @RANGE (demo/sir@1.2.0, demo/sir@>=1.2,<2)"
            )
        namespace, name, wanted = match.groups()
        try:
            versions = Range.parse(wanted or "")
        except VersionError as exc:
            raise PackageError(str(exc)) from None
        return cls(namespace=namespace, name=name, versions=versions, text=text.strip())


def scan(home: Path | None = None) -> tuple[list[InstalledPackage], list[str]]:
    """Every intact installed package (sorted), and a sentence for each damaged one."""
    found, damaged = _scan(home)
    return found, [message for _, message in damaged]


def _scan(home: Path | None) -> tuple[list[InstalledPackage], list[tuple[Path, str]]]:
    """Every intact installed package (sorted); each damaged one's directory and sentence."""
    root = modules_root(home)
    found: list[InstalledPackage] = []
    damaged: list[tuple[Path, str]] = []
    for namespace in _subdirectories(root):
        for name in _subdirectories(namespace):
            for version in _subdirectories(name):
                try:
                    found.append(_load_installed(version))
                except PackageError as exc:
                    damaged.append((version, str(exc)))
    found.sort(key=lambda p: (p.descriptor.namespace, p.descriptor.name, p.descriptor.version.key))
    return found, damaged


def installed(home: Path | None = None) -> list[InstalledPackage]:
    """Every intact installed package, sorted by name and version."""
    return scan(home)[0]


def _subdirectories(directory: Path) -> Iterator[Path]:
    try:
        entries = sorted(directory.iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return
    except OSError as exc:
        raise PackageError(
            f"cannot read {directory}: {exc.strerror}; check SIMBA_HOME and its permissions"
        ) from None
    for entry in entries:
        if not entry.name.startswith(".") and entry.is_dir() and not entry.is_symlink():
            yield entry


def _load_installed(directory: Path) -> InstalledPackage:
    record_file = directory / INSTALL_RECORD
    try:
        record = read_json(record_file)
        sha256, archive = record["sha256"], record["archive"]
        descriptor = read_descriptor(directory)
    except (OSError, JSONFileError, KeyError, TypeError, PackageError) as exc:
        raise PackageError(
            f"the installed package in {directory} is damaged ({exc}); remove that directory"
        ) from None
    expected = (descriptor.namespace, descriptor.name, str(descriptor.version))
    if (directory.parent.parent.name, directory.parent.name, directory.name) != expected:
        raise PackageError(
            f"the installed package in {directory} says it is {descriptor.ident}; "
            "remove that directory"
        )
    return InstalledPackage(
        descriptor=descriptor, directory=directory, sha256=str(sha256), archive=str(archive)
    )


def resolve(ref: PackageRef | str, home: Path | None = None) -> InstalledPackage:
    """The installed package with the highest version in the range; raises if there is none."""
    if isinstance(ref, str):
        ref = PackageRef.parse(ref)
    found, damaged = _scan(home)
    candidates = [
        p for p in found if (p.descriptor.namespace, p.descriptor.name) == (ref.namespace, ref.name)
    ]
    best = highest(((p.descriptor.version, p) for p in candidates), ref.versions)
    if best is not None:
        return best[1]
    broken = [m for d, m in damaged if (d.parent.parent.name, d.parent.name) == ref.parts]
    if broken:
        raise PackageNotFoundError(
            f"no intact installed version of {ref.full_name} is in the range '{ref.versions}': "
            + "; ".join(broken)
        )
    if not candidates:
        raise PackageNotFoundError(
            f"the package {ref.full_name} is not installed (in {modules_root(home)}); "
            f"install it with 'simba module install {ref.namespace}-{ref.name}-VERSION.zip'"
        )
    versions = ", ".join(str(p.descriptor.version) for p in candidates)
    raise PackageNotFoundError(
        f"no installed version of {ref.full_name} is in the range '{ref.versions}' "
        f"(installed: {versions}); install a matching version or change the range"
    )


def remove(ref: PackageRef | str, home: Path | None = None) -> list[InstalledPackage]:
    """Remove the installed versions a reference names; the ones removed.

    A range (or no version) removes every installed version in it.  An exact version
    removes that version only: ``1.0.0+b7`` that build; ``1.0.0`` the install without
    build metadata if there is one, else the only build of 1.0.0, and it is refused when
    several builds of 1.0.0 are installed (name one).
    """
    if isinstance(ref, str):
        ref = PackageRef.parse(ref)
    matching = [
        p
        for p in installed(home)
        if (p.descriptor.namespace, p.descriptor.name) == ref.parts
        and ref.versions.contains(p.descriptor.version)
    ]
    if not matching:
        resolve(ref, home)  # raises the telling error
    exact = ref.versions.exact
    if exact is not None and not exact.build and len(matching) > 1:
        plain = [p for p in matching if not p.descriptor.version.build]
        if not plain:
            builds = ", ".join(p.ident for p in matching)
            raise PackageError(
                f"{ref.text} matches {len(matching)} installed builds ({builds}); name the one "
                f"to remove, e.g. 'simba module remove {matching[0].ident}'"
            )
        matching = plain
    for package in matching:
        doomed = package.directory.with_name(f".{package.directory.name}.remove-{_token()}")
        package.directory.rename(doomed)  # out of sight at once, then deleted
        shutil.rmtree(doomed)
        _remove_empty(package.directory.parent, stop=modules_root(home))
    return matching


def _remove_empty(directory: Path, *, stop: Path) -> None:
    """Remove ``directory`` and its parents up to ``stop`` (exclusive) while empty."""
    while directory != stop and stop in directory.parents:
        try:
            directory.rmdir()
        except OSError:
            return
        directory = directory.parent


def _token() -> str:
    return secrets.token_hex(4)


# -- installing ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class InstallResult:
    package: InstalledPackage
    action: Literal["installed", "unchanged", "replaced"]
    """``installed``, ``unchanged`` (the same archive was installed already) or ``replaced``."""


def install(archive_path: Path, *, home: Path | None = None, force: bool = False) -> InstallResult:
    """Install a package archive after checking it by every rule; see the module docstring."""
    archive_path = Path(archive_path)
    with open_archive(archive_path) as handle:
        sha256 = hash_handle(handle)
        descriptor, archive, infos = inspect(handle, archive_path, doing="install")
        with archive:
            root = modules_root(home)
            target = root / descriptor.namespace / descriptor.name / str(descriptor.version)
            replacing = False
            if target.exists():
                current = _installed_or_none(target)
                if current is not None and current.sha256 == sha256:
                    return InstallResult(package=current, action="unchanged")
                if not force:
                    was = f" (sha256 {current.sha256[:12]}…)" if current else ""
                    raise PackageError(
                        f"{descriptor.ident} is already installed from a different archive{was}; "
                        f"remove it first ('simba module remove {descriptor.ident}') or pass "
                        "--force to replace it"
                    )
                replacing = True
            made = _make_parents(target.parent, root)
            temporary = target.parent / f".{target.name}.install-{_token()}"
            try:
                temporary.mkdir(mode=0o755)
                extract(archive, infos, temporary, archive_path)
                write_json(
                    temporary / INSTALL_RECORD,
                    {
                        "sha256": sha256,
                        "archive": archive_path.name,
                        "installedAt": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                        "simba": __version__,
                    },
                )
                _move_into_place(temporary, target, replace=replacing)
            except BaseException:
                shutil.rmtree(temporary, ignore_errors=True)
                for directory in reversed(made):
                    with contextlib.suppress(OSError):
                        directory.rmdir()
                raise
    package = InstalledPackage(
        descriptor=descriptor, directory=target, sha256=sha256, archive=archive_path.name
    )
    return InstallResult(package=package, action="replaced" if replacing else "installed")


def _installed_or_none(directory: Path) -> InstalledPackage | None:
    try:
        return _load_installed(directory)
    except PackageError:
        return None


def _make_parents(directory: Path, root: Path) -> list[Path]:
    """Create ``directory`` and missing parents; the ones created, outermost first."""
    missing = [d for d in (directory, *directory.parents) if not d.exists()]
    missing.reverse()
    for made in missing:
        try:
            made.mkdir(mode=0o755)
        except FileExistsError:
            pass
        except OSError as exc:
            raise PackageError(
                f"cannot create {made}: {exc.strerror}; set SIMBA_HOME to a writable directory"
            ) from None
    return [d for d in missing if root == d or root in d.parents]


def _move_into_place(temporary: Path, target: Path, *, replace: bool) -> None:
    if not replace:
        try:
            temporary.rename(target)
        except OSError as exc:
            raise PackageError(
                f"cannot install into {target}: {exc.strerror} (another install at the same "
                "time?); try again"
            ) from None
        return
    previous = target.with_name(f".{target.name}.old-{_token()}")
    target.rename(previous)
    try:
        temporary.rename(target)
    except BaseException:
        previous.rename(target)
        raise
    shutil.rmtree(previous, ignore_errors=True)
