"""Packing a module directory into a package archive, deterministically.

Regular files only, sorted, with a fixed timestamp and mode 0644 or 0755, so the same
sources give the same bytes and sha256.  The archive is checked by the rules of
:mod:`simba.packages.archive` (the ones installing applies) before it replaces any
earlier archive of the same package.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from simba.errors import DescriptorError, PackageError
from simba.packages.archive import hash_handle, inspect, open_archive
from simba.packages.descriptor import DESCRIPTOR, Descriptor, check_program, read_descriptor

#: The timestamp of every packed entry (the earliest a ZIP can hold).
PACK_TIME = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True, slots=True, kw_only=True)
class PackResult:
    """The archive written, its sha256, the package's descriptor and how many files it holds."""

    archive: Path
    sha256: str
    descriptor: Descriptor
    files: int


def pack(directory: Path, output_directory: Path | None = None) -> PackResult:
    """Pack a module directory into ``<namespace>-<name>-<version>.zip``, deterministically.

    Hidden files and directories, ``__pycache__``, ``*.pyc``, SIMBA run directories
    and earlier archives of the same package are left out.  The archive is checked by
    the same rules as :func:`simba.packages.store.install` before it replaces any earlier one.
    """
    directory = directory.resolve()
    if not directory.is_dir():
        raise PackageError(f"{directory} is not a directory; give the module's directory")
    descriptor = read_descriptor(directory)
    files = _package_files(directory, descriptor)
    modes = {relative: _packed_mode(path) for relative, path in files}
    problems = check_program(
        descriptor,
        lambda p: None if p not in modes else bool(modes[p] & 0o111),
        str(directory / DESCRIPTOR),
    )
    if problems:
        raise DescriptorError(str(directory / DESCRIPTOR), problems)
    output = (output_directory or Path.cwd()).resolve()
    output.mkdir(parents=True, exist_ok=True)
    target = output / descriptor.archive_name
    temporary = output / f".{descriptor.archive_name}.{os.getpid()}.tmp"
    try:
        write_zip(temporary, [(name, path, modes[name]) for name, path in files])
        with open_archive(temporary) as handle:
            sha256 = hash_handle(handle)
            inspect(handle, target, doing="pack")[1].close()
        temporary.replace(target)
    finally:
        temporary.unlink(missing_ok=True)
    return PackResult(archive=target, sha256=sha256, descriptor=descriptor, files=len(files))


def _package_files(directory: Path, descriptor: Descriptor) -> list[tuple[str, Path]]:
    """The files to pack, as (archive name, path), sorted by name."""
    own_archives = re.compile(re.escape(f"{descriptor.namespace}-{descriptor.name}-") + r".*\.zip")
    found: list[tuple[str, Path]] = []
    for top, dirs, names in os.walk(directory):
        here = Path(top)
        kept = []
        for name in sorted(dirs):
            path = here / name
            if name.startswith(".") or name == "__pycache__":
                continue
            if path.is_symlink():
                raise _link_error(directory, path)
            if (path / ".simba").is_dir():
                continue  # a SIMBA run directory
            kept.append(name)
        dirs[:] = kept
        for name in names:
            path = here / name
            relative = path.relative_to(directory).as_posix()
            if name.startswith(".") or name.endswith((".pyc", ".pyo")):
                continue
            if here == directory and own_archives.fullmatch(name):
                continue
            mode = path.lstat().st_mode
            if stat.S_ISLNK(mode):
                raise _link_error(directory, path)
            if not stat.S_ISREG(mode):
                raise PackageError(
                    f"cannot pack {path}: it is not a regular file; packages hold regular "
                    "files and directories only"
                )
            found.append((relative, path))
    return sorted(found)


def _link_error(directory: Path, path: Path) -> PackageError:
    return PackageError(
        f"cannot pack {directory}: {path.relative_to(directory)} is a symbolic link, and "
        "packages hold regular files and directories only; replace it with a copy"
    )


def _packed_mode(path: Path) -> int:
    return 0o755 if path.stat().st_mode & 0o111 else 0o644


def write_zip(path: Path, entries: Sequence[tuple[str, Path, int]]) -> None:
    """Write ``(name, source file, mode)`` entries, in the order given, with fixed metadata."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, source_path, mode in entries:
            info = zipfile.ZipInfo(name, date_time=PACK_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # Unix, so the mode below counts everywhere
            info.external_attr = (stat.S_IFREG | mode) << 16
            info.file_size = source_path.stat().st_size
            with source_path.open("rb") as source, archive.open(info, "w") as sink:
                shutil.copyfileobj(source, sink, 1 << 20)
