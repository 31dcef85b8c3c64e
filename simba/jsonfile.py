"""Reading and writing the JSON files SIMBA exchanges, strictly and atomically.

Reading rejects what Python's ``json`` would quietly accept but other languages would
not, or SIMBA could not write again (``NaN``, ``Infinity``, numbers out of a double's
range such as ``1e400``, lone UTF-16 surrogates such as ``"\\ud800"``, duplicate keys),
and turns every failure into one sentence.  This is the one place such values are caught:
everything SIMBA reads goes through :func:`parse_json`, so what it parsed it can write.
Writing goes through a temporary file and a rename, so a reader (or a resumed run)
never sees half a document.
"""

from __future__ import annotations

import errno
import json
import math
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO, Literal

#: Largest JSON document SIMBA reads (status files, scenario files).
MAX_BYTES = 16 * 1024 * 1024
_FIRST_READ = 8192
_CHUNK = 1024 * 1024
#: What a file SIMBA reads is, if not a regular file (0: anything else).
_NOT_REGULAR = {
    stat.S_IFDIR: "it is a directory, not a file",
    stat.S_IFIFO: "it is a named pipe (FIFO), not a regular file",
    stat.S_IFSOCK: "it is a socket, not a regular file",
    stat.S_IFCHR: "it is a device, not a regular file",
    stat.S_IFBLK: "it is a device, not a regular file",
    0: "it is not a regular file",
}


class JSONFileError(ValueError):
    """A JSON file could not be read; the message is one sentence without the path.

    ``where`` is the JSON path of the value at fault (``commonData.x``, ``schedule[1]``),
    or ``""`` when the problem is the document as a whole.
    """

    def __init__(self, reason: str, where: str = "") -> None:
        self.where = where.encode("utf-8", "backslashreplace").decode()
        self.reason = reason
        """The message without the JSON path."""
        super().__init__(f"at {self.where}, {reason}" if where else reason)


class _OutOfRange(ValueError):
    """A number literal whose value is no finite double (``1e400``)."""


def _reject_constant(name: str) -> Any:
    raise JSONFileError(f"{name} is not valid JSON; write a number or a string instead")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise JSONFileError(f"the key {key!r} appears twice in one object")
        result[key] = value
    return result


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):  # a JSON number literal is never NaN, only too large
        raise _OutOfRange(text)
    return value


#: A ``\\uD800``..``\\uDFFF`` escape: only such an escape can put a surrogate into a string.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


_STRICT = json.JSONDecoder(
    parse_constant=_reject_constant, parse_float=_finite_float, object_pairs_hook=_unique_keys
)


def parse_json(data: bytes | str) -> Any:
    """Parse a JSON document strictly; raises :class:`JSONFileError`."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise JSONFileError(f"it is not UTF-8 text (byte {exc.start})") from exc
    try:
        document = _STRICT.decode(data)
    except _OutOfRange as exc:
        where = _path_of_out_of_range(data)
        raise JSONFileError(
            f"the number {_shorten(str(exc))} is out of range (it would read as "
            "infinity); write a number of at most about 1.8e308, or a string",
            where,
        ) from None
    except json.JSONDecodeError as exc:
        raise JSONFileError(
            f"it is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        ) from exc
    except RecursionError as exc:
        raise JSONFileError("it is nested too deeply to read") from exc
    except JSONFileError:
        raise
    except ValueError as exc:  # an integer longer than Python's int_max_str_digits
        detail = str(exc).split(";")[0]
        raise JSONFileError(f"it holds a number too long to read ({detail})") from exc
    if _SURROGATE_ESCAPE.search(data):
        _refuse_lone_surrogates(document)
    return document


def _refuse_lone_surrogates(document: Any) -> None:
    """Raise for the first string (or key) holding a UTF-16 surrogate without its pair."""
    for where, text, kind in _strings(document, ""):
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            code = ord(text[exc.start])
            raise JSONFileError(
                f"{kind} holds \\u{code:04x}, half of a UTF-16 surrogate pair "
                "without its other half, which no UTF-8 text can hold; remove it or "
                "write the whole character",
                where,
            ) from None


def _strings(value: Any, where: str) -> Iterator[tuple[str, str, str]]:
    """Every string in ``value`` (keys too) with its JSON path and kind, depth first."""
    if isinstance(value, str):
        yield where, value, "a string"
    elif isinstance(value, dict):
        for key, item in value.items():
            yield where, key, "a key"  # a key is reported at its object
            yield from _strings(item, f"{where}.{key}" if where else key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, f"{where}[{index}]")


class _Marker(float):
    """Where :func:`_path_of_out_of_range` parsed the number that is out of range."""


def _path_of_out_of_range(data: str) -> str:
    """The JSON path of the first number out of range (parsed again: an error path only)."""

    def mark(text: str) -> float:
        return _Marker() if math.isinf(float(text)) else 0.0

    try:
        document = json.loads(data, parse_float=mark)
    except (ValueError, RecursionError):
        return ""
    return next(_marked(document, ""), "")  # "": the top level (or not found)


def _marked(value: Any, where: str) -> Iterator[str]:
    if isinstance(value, _Marker):
        yield where
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _marked(item, f"{where}.{key}" if where else key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _marked(item, f"{where}[{index}]")


def _shorten(text: str) -> str:
    return text if len(text) <= 40 else text[:37] + "..."


def read_json(path: Path, *, max_bytes: int | None = MAX_BYTES) -> Any:
    """Read and parse ``path``; raises :class:`JSONFileError` (also for I/O problems).

    ``max_bytes=None`` reads any size (for SIMBA's own files).
    A missing file raises :class:`FileNotFoundError`, so callers can say so plainly.
    """
    return parse_json(read_file(path, max_bytes=max_bytes))


def read_object_or_empty(path: Path) -> dict[str, Any]:
    """The JSON object in ``path``, or ``{}`` if it is missing, unreadable or no object
    (for looks at a run that must say what they can, such as ``simba status``)."""
    try:
        document = read_json(path)
    except (OSError, JSONFileError):
        return {}
    return document if isinstance(document, dict) else {}


#: The os.open flags of each mode :func:`open_regular` takes.
_OPEN_FLAGS = {
    "rb": os.O_RDONLY,
    "r+b": os.O_RDWR,
    "ab": os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW,
}


def open_regular(path: Path, mode: Literal["rb", "r+b", "ab"], *, buffering: int = -1) -> BinaryIO:
    """``path`` opened like ``path.open(mode)``, but never blocked: only a regular file.

    A named pipe, socket or device a module put at one of SIMBA's own paths (a log, the
    trace) raises an :class:`OSError` naming what it is, at once, instead of waiting for
    a peer for ever; appending also refuses a symbolic link.  ``buffering`` as for
    :func:`open`.
    """
    try:
        fd = os.open(path, _OPEN_FLAGS[mode] | os.O_NONBLOCK, 0o644)
    except OSError as exc:  # ENXIO: a named pipe opened for writing, with no reader
        if exc.errno != errno.ENXIO:
            raise
        raise OSError(exc.errno, _NOT_REGULAR[stat.S_IFIFO], str(path)) from None
    try:
        kind = stat.S_IFMT(os.fstat(fd).st_mode)
        if kind != stat.S_IFREG:
            raise OSError(errno.EINVAL, _NOT_REGULAR.get(kind, _NOT_REGULAR[0]), str(path))
        os.set_blocking(fd, True)
        return os.fdopen(fd, mode, buffering=buffering)
    except BaseException:
        os.close(fd)
        raise


def read_file(path: Path, *, max_bytes: int | None = MAX_BYTES) -> bytes:
    """The bytes of ``path``, with :func:`read_json`'s errors (but not parsed)."""
    limit = None if max_bytes is None else max_bytes + 1  # one byte more shows a file too big
    try:
        # O_NONBLOCK: opening a named pipe must not wait for a writer; fstat then refuses
        # anything but a regular file (race-free: it is the file that was opened).
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        try:
            kind = stat.S_IFMT(os.fstat(fd).st_mode)
            if kind != stat.S_IFREG:
                raise JSONFileError(_NOT_REGULAR.get(kind, _NOT_REGULAR[0]))
            # Most files SIMBA reads are small: one read, without asking for the size first.
            data = os.read(fd, _FIRST_READ)
            if len(data) == _FIRST_READ:
                parts, total = [data], len(data)
                while limit is None or total < limit:
                    wanted = _CHUNK if limit is None else min(_CHUNK, limit - total)
                    more = os.read(fd, wanted)
                    if not more:
                        break
                    parts.append(more)
                    total += len(more)
                data = b"".join(parts)
        finally:
            os.close(fd)
    except (FileNotFoundError, JSONFileError):
        raise
    except IsADirectoryError as exc:
        raise JSONFileError("it is a directory, not a file") from exc
    except OSError as exc:
        raise JSONFileError(f"it cannot be read ({exc.strerror})") from exc
    if max_bytes is not None and len(data) > max_bytes:
        raise JSONFileError(f"it is larger than {max_bytes // (1024 * 1024)} MiB")
    return data


def dump_json(document: Any, *, indent: int | None = 2) -> bytes:
    return json.dumps(document, indent=indent, ensure_ascii=False, allow_nan=False).encode()


def write_json(path: Path, document: Any, *, indent: int | None = 2, sync: bool = False) -> None:
    """Write ``document`` to ``path`` atomically (temporary file, optional fsync, rename)."""
    write_bytes(path, dump_json(document, indent=indent) + b"\n", sync=sync)


def write_json_new(path: Path, document: Any) -> None:
    """Write ``document`` to ``path`` in place: for a file nothing reads yet (a fresh call's
    config), where the temporary file and rename of :func:`write_json` buy nothing."""
    fd = os.open(path, _WRITE_FLAGS, 0o644)
    try:
        _write_all(fd, dump_json(document) + b"\n")
    finally:
        os.close(fd)


def temporary_path(path: Path) -> Path:
    """Where :func:`write_bytes` writes ``path`` before renaming it into place."""
    return path.with_name(f".{path.name}.tmp")


def write_bytes(path: Path, data: bytes, *, sync: bool = False) -> None:
    temporary = temporary_path(path)
    fd = os.open(temporary, _WRITE_FLAGS, 0o644)
    try:
        try:
            _write_all(fd, data)
            if sync:
                os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:  # a full disk: leave no half-written file holding space
        temporary.unlink(missing_ok=True)
        raise
    temporary.replace(path)
    if sync:
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


#: O_NONBLOCK: a named pipe put where SIMBA writes makes the open fail (ENXIO) instead of
#: waiting for a reader for ever; O_NOFOLLOW: a symbolic link there is refused (ELOOP),
#: so nothing is written outside the run directory through one.
_WRITE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NONBLOCK | os.O_NOFOLLOW


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
