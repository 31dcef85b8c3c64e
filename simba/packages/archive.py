"""Package archives: checking them by every rule before unpacking, and unpacking them.

Every entry of an archive is checked before anything is written, and the archive is
refused with one :class:`Violation` (entry, rule, sentence) per problem; the rules are
in :data:`RULES`.  Extraction writes only regular files and directories, with modes
0644/0755, below a directory the caller made for the purpose, and never more bytes
than an entry declares.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import stat
import struct
import zipfile
import zlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Literal

from simba.errors import ArchiveError, DescriptorError, PackageError, Violation
from simba.jsonfile import JSONFileError, parse_json
from simba.packages.descriptor import (
    DESCRIPTOR,
    MAX_DESCRIPTOR_BYTES,
    Descriptor,
    check_program,
    parse_descriptor,
)

#: What a check of an archive is for, as its error message says.
Doing = Literal["install", "pack"]

#: SIMBA's record of an install, in the package directory; no archive may hold it.
INSTALL_RECORD = ".simba-install.json"

#: Most entries an archive may have.
MAX_ENTRIES = 10_000
#: Most bytes an archive may unpack to, all entries together.
MAX_UNPACKED = 1 << 30
#: Highest compression ratio (unpacked / packed size) of one entry ...
MAX_RATIO = 100
#: ... counted for entries that unpack to more than this (small files cannot make a bomb).
RATIO_FLOOR = 1 << 20
#: Longest entry name, in bytes (UTF-8), and longest part of one (what file systems allow).
MAX_NAME_BYTES = 1024
MAX_PART_BYTES = 255
#: Most directories an entry may lie below the package root.
MAX_DEPTH = 64

#: Each rule an archive entry can break, and what it means.
RULES: Mapping[str, str] = {
    "not-a-zip": "the file must be a readable ZIP archive",
    "absolute-path": "entry names must be relative paths",
    "parent-directory": "entry names must not contain '..' components",
    "unsafe-name": "entry names must not contain backslashes, control characters, "
    "or empty or '.' components",
    "reserved-name": f"the root name {INSTALL_RECORD} is SIMBA's own",
    "name-too-long": f"entry names may be at most {MAX_NAME_BYTES} bytes long, each part "
    f"between slashes at most {MAX_PART_BYTES}",
    "too-deep": f"entries may lie at most {MAX_DEPTH} directories deep",
    "symlink": "packages hold regular files and directories only, no symbolic links",
    "hard-link": "packages hold regular files and directories only, no hard links",
    "device": "packages hold regular files and directories only, no device files",
    "fifo": "packages hold regular files and directories only, no FIFOs",
    "special-file": "packages hold regular files and directories only",
    "encrypted": "entries must not be encrypted",
    "duplicate-name": "every path may appear once, as a file or as a directory",
    "case-collision": "paths must not differ only by upper and lower case",
    "too-many-entries": f"an archive may hold at most {MAX_ENTRIES:,} entries",
    "too-large": f"an archive may unpack to at most {MAX_UNPACKED >> 30} GiB",
    "compression-ratio": f"an entry over {RATIO_FLOOR >> 20} MiB may be compressed at most "
    f"{MAX_RATIO}:1",
    "missing-descriptor": f"the archive must hold {DESCRIPTOR} at its root",
    "invalid-descriptor": f"{DESCRIPTOR} must be valid (simba schema descriptor)",
}


@contextlib.contextmanager
def open_archive(path: Path) -> Iterator[IO[bytes]]:
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        raise PackageError(f"there is no archive {path}") from None
    except IsADirectoryError:
        raise PackageError(
            f"{path} is a directory; to install, first pack it with 'simba module pack {path}'"
        ) from None
    except OSError as exc:
        raise PackageError(f"cannot read {path}: {exc.strerror}") from None
    with handle:
        yield handle


def hash_handle(handle: IO[bytes]) -> str:
    digest = hashlib.sha256()
    handle.seek(0)
    for block in iter(lambda: handle.read(1 << 20), b""):
        digest.update(block)
    handle.seek(0)
    return digest.hexdigest()


def inspect(
    handle: IO[bytes], path: Path, *, doing: Doing
) -> tuple[Descriptor, zipfile.ZipFile, list[zipfile.ZipInfo]]:
    """Check every rule; the descriptor, the open archive and its entries, or ArchiveError."""
    declared = _declared_entries(handle)
    if declared is not None and declared > MAX_ENTRIES:
        raise ArchiveError(
            path,
            [
                Violation(
                    "(archive)",
                    "too-many-entries",
                    f"it declares {declared:,} entries; at most {MAX_ENTRIES:,} are allowed",
                )
            ],
            doing=doing,
        )
    try:
        archive = zipfile.ZipFile(handle)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise ArchiveError(
            path,
            [Violation("(archive)", "not-a-zip", f"it cannot be read as a ZIP ({exc})")],
            doing=doing,
        ) from None
    try:
        infos = archive.infolist()
        violations = _entry_violations(infos)
        descriptor: Descriptor | None = None
        if not any(v.rule == "too-many-entries" for v in violations):
            descriptor, more = _archive_descriptor(archive, infos)
            violations += more
        if violations:
            raise ArchiveError(path, violations, doing=doing)
    except BaseException:
        archive.close()
        raise
    assert descriptor is not None
    return descriptor, archive, infos


def _declared_entries(handle: IO[bytes]) -> int | None:
    """The entry count in the end-of-central-directory record, before zipfile reads it all."""
    handle.seek(0, os.SEEK_END)
    size = handle.tell()
    tail_size = min(size, 22 + 0xFFFF)
    handle.seek(size - tail_size)
    tail = handle.read(tail_size)
    handle.seek(0)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < 22:
        return None
    entries = int(struct.unpack_from("<H", tail, at + 10)[0])
    if entries != 0xFFFF or at < 20:
        return entries
    locator = tail[at - 20 : at]
    if locator[:4] != b"PK\x06\x07":
        return entries
    offset = int(struct.unpack_from("<Q", locator, 8)[0])
    if offset + 56 > size:
        return entries
    handle.seek(offset)
    record = handle.read(56)
    handle.seek(0)
    if record[:4] != b"PK\x06\x06":
        return entries
    return int(struct.unpack_from("<Q", record, 32)[0])


def _entry_violations(infos: list[zipfile.ZipInfo]) -> list[Violation]:
    """Every entry that breaks a naming, type or size rule."""
    violations: list[Violation] = []
    if len(infos) > MAX_ENTRIES:
        violations.append(
            Violation(
                "(archive)",
                "too-many-entries",
                f"it holds {len(infos):,} entries; at most {MAX_ENTRIES:,} are allowed",
            )
        )
        return violations
    total = sum(info.file_size for info in infos)
    if total > MAX_UNPACKED:
        violations.append(
            Violation(
                "(archive)",
                "too-large",
                f"it unpacks to {total:,} bytes; at most {MAX_UNPACKED:,} (1 GiB) are allowed",
            )
        )
    seen: dict[str, str] = {}  # path -> the entry that made it
    files: set[str] = set()
    for info in infos:
        name = info.orig_filename
        violation = _name_violation(name) or _type_violation(info)
        if violation is None:
            violation = _size_violation(info)
        if violation is not None:
            violations.append(Violation(_shown(name), *violation))
            continue
        key = name.rstrip("/")
        if key in seen:
            violations.append(
                Violation(name, "duplicate-name", f"the archive holds {key!r} more than once")
            )
            continue
        seen[key] = name
        if not info.is_dir():
            files.add(key)
    violations += _path_violations(seen, files)
    return violations


def _path_violations(seen: Mapping[str, str], files: set[str]) -> list[Violation]:
    """Paths inside a file, and paths that differ only by case (one violation per entry)."""
    violations: list[Violation] = []
    folded: dict[str, str] = {}  # casefolded path -> path
    for key in sorted(seen):
        parts = key.split("/")
        for depth in range(1, len(parts) + 1):
            prefix = "/".join(parts[:depth])
            if depth < len(parts) and prefix in files:
                violations.append(
                    Violation(
                        seen[key],
                        "duplicate-name",
                        f"{prefix!r} is a file, so nothing can be inside it",
                    )
                )
                break
            other = folded.setdefault(prefix.casefold(), prefix)
            if other != prefix:
                violations.append(
                    Violation(
                        seen[key],
                        "case-collision",
                        f"{prefix!r} and {other!r} differ only by case, so they would be "
                        "one file on macOS and Windows",
                    )
                )
                break
    return violations


def _name_violation(name: str) -> tuple[str, str] | None:
    if name.startswith("/") or re.match(r"[A-Za-z]:", name):
        return "absolute-path", "its name is an absolute path"
    if ".." in re.split(r"[/\\]", name):
        return "parent-directory", "its name has a '..' component, which leaves the package"
    if "\\" in name:
        return "unsafe-name", "its name holds a backslash"
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        return "unsafe-name", "its name holds a control character"
    parts = name.rstrip("/").split("/")
    if any(part in ("", ".") for part in parts):
        return "unsafe-name", "its name has an empty or '.' component"
    if name.rstrip("/") == INSTALL_RECORD:
        return "reserved-name", f"{INSTALL_RECORD} is where SIMBA records an install"
    return _length_violation(name, parts)


def _shown(name: str) -> str:
    """An entry name short enough for a message: a long one keeps its start and end."""
    return name if len(name) <= 120 else f"{name[:80]}…{name[-30:]}"


def _length_violation(name: str, parts: list[str]) -> tuple[str, str] | None:
    size = len(name.encode("utf-8", "surrogatepass"))
    if size > MAX_NAME_BYTES:
        return "name-too-long", f"its name is {size:,} bytes long (at most {MAX_NAME_BYTES})"
    longest = max(len(part.encode("utf-8", "surrogatepass")) for part in parts)
    if longest > MAX_PART_BYTES:
        return (
            "name-too-long",
            f"a part of its name is {longest} bytes long (at most {MAX_PART_BYTES})",
        )
    if len(parts) - 1 > MAX_DEPTH:
        return "too-deep", f"it lies {len(parts) - 1} directories deep (at most {MAX_DEPTH})"
    return None


#: Header ID of the PKWARE Unix extra field, which carries a link's target.
_UNIX_EXTRA = 0x000D


def _type_violation(info: zipfile.ZipInfo) -> tuple[str, str] | None:
    mode = info.external_attr >> 16
    kind = stat.S_IFMT(mode)
    if kind == stat.S_IFLNK:
        return "symlink", "it is a symbolic link"
    if kind in (stat.S_IFCHR, stat.S_IFBLK):
        return "device", "it is a device file"
    if kind == stat.S_IFIFO:
        return "fifo", "it is a FIFO (named pipe)"
    if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
        return "special-file", f"it is a special file (type {kind:o})"
    if _links_elsewhere(info.extra):
        return "hard-link", "it is a link (its Unix extra field names a link target)"
    if info.flag_bits & 0x1:
        return "encrypted", "it is encrypted"
    return None


def _links_elsewhere(extra: bytes) -> bool:
    """Whether the extra fields hold a PKWARE Unix field with a link target."""
    at = 0
    while at + 4 <= len(extra):
        header, size = struct.unpack_from("<HH", extra, at)
        if header == _UNIX_EXTRA and size > 12:
            return True
        at += 4 + size
    return False


def _size_violation(info: zipfile.ZipInfo) -> tuple[str, str] | None:
    if info.file_size <= RATIO_FLOOR:
        return None
    if info.compress_size == 0 or info.file_size / info.compress_size > MAX_RATIO:
        ratio = info.file_size / max(info.compress_size, 1)
        return (
            "compression-ratio",
            f"it unpacks {info.compress_size:,} bytes into {info.file_size:,} "
            f"(ratio {ratio:,.0f}:1, at most {MAX_RATIO}:1 is allowed)",
        )
    return None


def _archive_descriptor(
    archive: zipfile.ZipFile, infos: list[zipfile.ZipInfo]
) -> tuple[Descriptor | None, list[Violation]]:
    by_name = {info.orig_filename: info for info in infos}
    info = by_name.get(DESCRIPTOR)
    if info is None or info.is_dir():
        return None, [
            Violation(
                DESCRIPTOR, "missing-descriptor", f"the archive has no {DESCRIPTOR} at its root"
            )
        ]
    if info.file_size > MAX_DESCRIPTOR_BYTES:
        return None, [Violation(DESCRIPTOR, "invalid-descriptor", "it is larger than 1 MiB")]
    try:
        document = parse_json(archive.read(info))
    except JSONFileError as exc:
        return None, [Violation(DESCRIPTOR, "invalid-descriptor", str(exc))]
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        return None, [Violation(DESCRIPTOR, "invalid-descriptor", f"it cannot be read ({exc})")]
    try:
        descriptor = parse_descriptor(document, file=DESCRIPTOR)
    except DescriptorError as exc:
        return None, [
            Violation(DESCRIPTOR, "invalid-descriptor", f"{p.path or '(top level)'}: {p.message}")
            for p in exc.problems
        ]

    def lookup(relative: str) -> bool | None:
        entry = by_name.get(relative)
        if entry is None or entry.is_dir():
            return None
        return bool((entry.external_attr >> 16) & 0o111)

    problems = check_program(descriptor, lookup, DESCRIPTOR)
    violations = [
        Violation(DESCRIPTOR, "invalid-descriptor", f"{p.path}: {p.message}") for p in problems
    ]
    return (None if violations else descriptor), violations


def extract(
    archive: zipfile.ZipFile, infos: list[zipfile.ZipInfo], into: Path, archive_path: Path
) -> None:
    """Unpack the checked entries into the empty directory ``into``."""
    for info in infos:
        try:
            _extract_one(archive, info, into, archive_path)
        except (zipfile.BadZipFile, EOFError, zlib.error) as exc:
            raise PackageError(
                f"cannot install {archive_path}: the entry {info.orig_filename!r} is damaged "
                f"({exc}); nothing was installed"
            ) from None
        except OSError as exc:
            raise PackageError(
                f"cannot install {archive_path}: cannot write the entry {info.orig_filename!r} "
                f"into {into.parent} ({exc.strerror or exc}); nothing was installed"
            ) from None


def _extract_one(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, into: Path, archive_path: Path
) -> None:
    destination = into.joinpath(*info.orig_filename.rstrip("/").split("/"))
    if info.is_dir():
        destination.mkdir(mode=0o755, parents=True, exist_ok=True)
        return
    destination.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    mode = 0o755 if (info.external_attr >> 16) & 0o111 else 0o644
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(destination, flags, mode)
    written = 0
    try:
        with os.fdopen(fd, "wb") as sink, archive.open(info) as source:
            fd = -1
            os.fchmod(sink.fileno(), mode)  # whatever the umask says
            for block in iter(lambda: source.read(1 << 20), b""):
                written += len(block)
                if written > info.file_size:
                    raise ArchiveError(
                        archive_path,
                        [
                            Violation(
                                info.orig_filename,
                                "too-large",
                                "it unpacks to more bytes than its header declares",
                            )
                        ],
                        doing="install",
                    )
                sink.write(block)
    finally:
        if fd >= 0:
            os.close(fd)
