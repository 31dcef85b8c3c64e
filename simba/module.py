"""The SDK for module authors: subclass :class:`Module`, override ``start``/``step``/``end``.

::

    from simba.module import Context, Module

    class Counter(Module):
        def step(self, ctx: Context) -> None:
            ctx.module_data["count"] = ctx.module_data.get("count", 0) + 1

    if __name__ == "__main__":
        Counter.main()

``main()`` reads the config file named by the last command-line argument, calls the
method for its ``mode``, and writes the status file: ``success`` with the commonData
keys the method changed and the moduleData (if it changed), or ``fail`` with the
error's message when the method raises (the process then exits 1).  ``lastRunTick: 0``
is a valid value here, ``end`` calls ``end``, and failure is spelled ``fail``.

This module imports only the standard library, so a module starts fast.
"""

from __future__ import annotations

import functools
import hmac
import json
import os
import sys
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

if TYPE_CHECKING:
    from email.message import Message

__all__ = ["Context", "Module"]


def _time(value: Any) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


@dataclass(kw_only=True)
class Context:
    """One call, as the config document describes it; mutate the two data dicts."""

    mode: str
    current_tick: int
    current_time: datetime
    last_run_tick: int | None
    last_run_time: datetime | None
    target_tick: int | None
    target_time: datetime | None
    tick_format: str
    output_directory: Path
    status_file: Path
    config_path: Path
    common_data: dict[str, Any] = field(default_factory=dict)
    """The shared state; keys you change are returned (they count only for declared keys
    of a module with ``updateCommonData``)."""
    module_data: dict[str, Any] = field(default_factory=dict)
    """This module's own data, given back to its next call."""
    services: dict[str, Any] = field(default_factory=dict)
    document: dict[str, Any] = field(default_factory=dict)
    """The config document as read."""

    @classmethod
    def from_document(cls, document: dict[str, Any], config_path: Path) -> Context:
        return cls(
            mode=document["mode"],
            current_tick=document["currentTick"],
            current_time=datetime.fromisoformat(document["currentTime"]),
            last_run_tick=document.get("lastRunTick"),
            last_run_time=_time(document.get("lastRunTime")),
            target_tick=document.get("targetTick"),
            target_time=_time(document.get("targetTime")),
            tick_format=document["tickFormat"],
            output_directory=_path(document["outputDirectory"]),
            status_file=_path(document["statusFile"]),
            config_path=config_path,
            common_data=_copy(document.get("commonData") or {}),
            module_data=_copy(document.get("moduleData") or {}),
            services=dict(document.get("services") or {}),
            document=document,
        )

    def service_headers(self, name: str) -> dict[str, str]:
        """The header that authenticates a request to the service ``name``: its per-run
        key, read from the key file the config document names (``{}`` if it names none)::

            urllib.request.Request(url, headers=ctx.service_headers("kv"))
        """
        key_file = (self.services.get(name) or {}).get("keyFile")
        if not key_file:
            return {}
        return {"Authorization": f"Bearer {Path(key_file).read_text(encoding='ascii').strip()}"}

    def tick_directory(self, tick: int | None = None) -> Path:
        """The run's directory for ``tick`` (default: the current tick)."""
        return self.output_directory / self.tick_format.format(
            self.current_tick if tick is None else tick
        )

    @property
    def step_seconds(self) -> float:
        """Simulated seconds from ``current_time`` to ``target_time`` (0 outside steps)."""
        if self.target_time is None:
            return 0.0
        return (self.target_time - self.current_time).total_seconds()

    def info(self, message: str) -> None:
        """Report progress: SIMBA shows the line in its activity log."""
        print(f"INFO: {message}", flush=True)

    def error(self, message: str) -> None:
        """Report a problem without failing the call."""
        print(f"ERROR: {message}", flush=True)


class Module:
    """Base class of a module; one instance serves every call of a process."""

    def start(self, ctx: Context) -> None:
        """Called once before the first tick."""

    def step(self, ctx: Context) -> None:
        """Advance from ``ctx.current_tick`` to ``ctx.target_tick``."""

    def end(self, ctx: Context) -> None:
        """Called once after the final tick."""

    def handle(self, config_path: Path) -> bool:
        """Run the call described by ``config_path`` and write its status; True on success."""
        with config_path.open(encoding="utf-8") as handle:
            document = json.load(handle)
        status, ok = self.call(document, config_path)
        _write_atomically(Path(document["statusFile"]), status)
        return ok

    def call(self, document: dict[str, Any], config_path: Path) -> tuple[dict[str, Any], bool]:
        """Run the call ``document`` describes; its status document, and True on success."""
        ctx = Context.from_document(document, config_path)
        original_common = document.get("commonData") or {}
        original_module = document.get("moduleData") or {}
        status: dict[str, Any]
        try:
            getattr(self, _METHODS[ctx.mode])(ctx)
        except Exception as exc:
            traceback.print_exc()
            ctx.error(f"{type(exc).__name__}: {exc}")
            return {"status": "fail", "message": f"{type(exc).__name__}: {exc}"}, False
        status = {"status": "success"}
        changed = {
            key: value
            for key, value in ctx.common_data.items()
            if key not in original_common or original_common[key] != value
        }
        if changed:
            status["commonData"] = changed
        if ctx.module_data != original_module:
            status["moduleData"] = ctx.module_data
        return status, True

    @classmethod
    def main(cls, argv: Sequence[str] | None = None) -> NoReturn:
        """Entry point: ``python my_module.py CONFIG`` (one call), or resident.

        When SIMBA runs the module as ``type: resident`` (environment variable
        ``SIMBA_MODULE_MODE=resident``), one instance serves every call: each line on
        stdin is a config path, answered with ``DONE: <path>`` once the status file is
        written; the process ends when stdin closes.  The same class serves both.
        With ``SIMBA_MODULE_PROTOCOL=inline`` (``"protocol": "inline"``) each line is
        the config document itself, answered with ``STATUS: <status JSON>``.
        """
        if os.environ.get("SIMBA_MODULE_MODE") == "resident":
            if os.environ.get("SIMBA_MODULE_PROTOCOL") == "inline":
                sys.exit(cls().serve_inline(sys.stdin, sys.stdout))
            sys.exit(cls().serve(sys.stdin, sys.stdout))
        args = list(sys.argv[1:] if argv is None else argv)
        if not args:
            print(f"usage: {sys.argv[0]} CONFIG_FILE", file=sys.stderr)
            sys.exit(2)
        sys.exit(0 if cls().handle(Path(args[-1])) else 1)

    def serve(self, requests: TextIO, answers: TextIO) -> int:
        """Handle one config path per line of ``requests`` until it ends (resident mode)."""
        for line in requests:
            path = line.strip()
            if path:
                self.handle(Path(path))
                answers.write(f"DONE: {path}\n")
                answers.flush()
        return 0

    def serve_inline(self, requests: TextIO, answers: TextIO) -> int:
        """Handle one config document per line of ``requests``, answering each with
        ``STATUS: <status JSON>`` on ``answers`` (the inline protocol: no files)."""
        for line in requests:
            if line.strip():
                document = json.loads(line)
                status, _ = self.call(document, _path(document["statusFile"]))
                answers.write(f"STATUS: {_encode(status)}\n")
                answers.flush()
        return 0


_METHODS = {"start": "start", "step": "step", "end": "end"}


@functools.lru_cache(maxsize=64)
def _path(text: str) -> Path:
    """``Path(text)``, made once: a resident module's calls name the same few paths, and
    building a path costs more than the rest of reading a config document."""
    return Path(text)


_encode = json.JSONEncoder(allow_nan=False).encode


def _copy(value: Any) -> Any:
    """A deep copy of a JSON value (objects, arrays and scalars only): several times
    faster than :func:`copy.deepcopy`, which a resident module would pay on every call."""
    if type(value) is dict:
        return {key: _copy(item) for key, item in value.items()}
    if type(value) is list:
        return [_copy(item) for item in value]
    return value


def authorized(headers: Mapping[str, str] | Message) -> bool:
    """Whether a request to this service carries the run's key: a service author's check,
    ``if not authorized(self.headers): return self.send_error(401)``.

    The key is in the file ``SIMBA_SERVICE_KEY_FILE`` names; a service started without
    one (by hand, outside SIMBA) has nothing to check, and every request passes.
    """
    key_file = os.environ.get("SIMBA_SERVICE_KEY_FILE")
    if not key_file:
        return True
    given = headers.get("Authorization") or ""
    return hmac.compare_digest(given.encode(), f"Bearer {_key(key_file)}".encode())


@functools.cache
def _key(path: str) -> str:
    return Path(path).read_text(encoding="ascii").strip()


def _write_atomically(path: Path, document: dict[str, Any]) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(document, allow_nan=False), encoding="utf-8")
    temporary.replace(path)
