"""The module call protocol (DESIGN §5): config documents, status files, and merges.

Everything here is pure apart from reading a status file; JSON keys are spelled as
the protocol spells them and mapped from Python names only here.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from simba import schemas
from simba.engine.state import CommonUpdate, ModuleState
from simba.jsonfile import MAX_BYTES, JSONFileError, parse_json, read_file
from simba.plan import Call, Mode
from simba.scenario import ModuleSpec


def build_config(
    call: Call,
    *,
    status_file: Path,
    run_dir: Path,
    tick_format: str,
    current_time: datetime,
    target_time: datetime | None,
    module_state: ModuleState,
    common_data: Mapping[str, Any] | None,
    services: Mapping[str, Any] | None = None,
    seed: int | None = None,
) -> dict[str, Any]:
    """The config document for ``call`` (``seed``: the module's, see :func:`derive_seed`)."""
    document: dict[str, Any] = {
        "mode": call.mode.value,
        "statusFile": str(status_file),
        "outputDirectory": str(run_dir),
        "tickFormat": tick_format,
        "currentTick": call.tick,
        "currentTime": current_time.isoformat(),
    }
    if call.mode is not Mode.START:
        last_time = module_state.last_run_time
        document["lastRunTick"] = module_state.last_run_tick
        document["lastRunTime"] = last_time.isoformat() if last_time else None
    if call.mode is Mode.STEP:
        assert target_time is not None
        document["targetTick"] = call.target_tick
        document["targetTime"] = target_time.isoformat()
    if common_data is not None:
        document["commonData"] = common_data
    if module_state.module_data is not None:
        document["moduleData"] = module_state.module_data
    if services:
        document["services"] = services
    if seed is not None:
        document["seed"] = seed
    return document


def derive_seed(seed: int, name: str) -> int:
    """The seed of module ``name`` in a run whose driver ``seed`` is given (DESIGN §14);
    also a sweep cell's seed from the base scenario's (``name``: the cell id).

    The first four bytes of SHA-256 of ``"<seed>:<name>"``, big-endian, as a
    non-negative 31-bit integer: different for each module (so no two modules draw the
    same random stream), the same on every machine and run, and small enough for every
    random generator's seed (R's ``set.seed``, Java's ``int``, NumPy's legacy ``seed``).
    """
    digest = hashlib.sha256(f"{seed}:{name}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFF_FFFF


@dataclass(frozen=True, slots=True)
class Status:
    """A parsed, valid status file."""

    success: bool
    common_data: Mapping[str, Any] | None
    module_data: Mapping[str, Any] | None
    message: str | None
    """What the module said about the call: its ``message``, and its ``error`` if a text."""
    written: str = "success"
    """The status as the module wrote it (``fail`` or ``failure`` for a failed call)."""
    data: bytes = b""
    """The document's bytes as the module wrote them."""
    unknown: tuple[str, ...] = ()
    """Top-level keys SIMBA does not know (ignored; the engine warns once per module)."""

    @property
    def sha256(self) -> str | None:
        """The SHA-256 of the document's bytes, for the run database (computed when asked:
        the engine asks while the next call runs)."""
        return hashlib.sha256(self.data).hexdigest() if self.data else None


#: The keys of a status file that SIMBA reads.
STATUS_KEYS = frozenset({"status", "commonData", "moduleData", "message", "error"})


class StatusProblem(ValueError):
    """The status file is unusable; the message is a sentence naming the file."""


def read_status(path: Path) -> Status:
    """Read and validate a status file against ``schema/status.json``."""
    try:
        data = read_file(path, max_bytes=MAX_BYTES)
    except FileNotFoundError:
        raise StatusProblem(f"it wrote no status file (expected {path})") from None
    except JSONFileError as exc:
        raise StatusProblem(f"its status file {path} is unusable: {exc}") from exc
    if len(data) <= _REMEMBERED_BYTES:
        with contextlib.suppress(StatusProblem):  # then say why, naming this file
            return _remembered_status(data)
    return _parse_status(data, f"status file {path}")


def status_from_line(data: bytes) -> Status:
    """Validate a status a module answered inline (``STATUS: ...``) as a status file is."""
    if len(data) <= _REMEMBERED_BYTES:
        with contextlib.suppress(StatusProblem):
            return _remembered_status(data)
    return _parse_status(data, "status line")


#: Status files up to this size are remembered by content: most calls of a module write
#: the same few documents (``{"status": "success"}``), parsed and validated once.
_REMEMBERED_BYTES = 4096


@functools.lru_cache(maxsize=64)
def _remembered_status(data: bytes) -> Status:
    """A valid status by its bytes (its dicts are shared: the state never mutates them)."""
    return _parse_status(data, "")


def _parse_status(data: bytes, what: str) -> Status:
    """``what``: ``status file <path>`` or ``status line`` (for the messages)."""
    try:
        document = parse_json(data)
    except JSONFileError as exc:
        raise StatusProblem(f"its {what} is unusable: {exc}") from exc
    if not isinstance(document, dict):
        raise StatusProblem(f"its {what} holds {_json_kind(document)}, not a JSON object")
    problems = (
        ()
        if _common_shape(document)
        else schemas.validate("status", document, file=what.removeprefix("status file "))
    )
    if problems:
        details = "; ".join(f"{p.path or 'top level'}: {p.message}" for p in problems)
        raise StatusProblem(f"its {what} is invalid: {details}")
    message = None
    if "message" in document or "error" in document:
        said = [document.get(key) for key in ("message", "error")]
        texts = [text for text in dict.fromkeys(said) if isinstance(text, str) and text.strip()]
        message = "; ".join(texts) or None
    unknown: tuple[str, ...] = ()
    if not document.keys() <= STATUS_KEYS:
        unknown = tuple(sorted(k for k in document if k not in STATUS_KEYS and not _ignored(k)))
    return Status(
        success=document["status"] == "success",
        common_data=document.get("commonData"),
        module_data=document.get("moduleData"),
        message=message,
        written=document["status"],
        data=bytes(data),
        unknown=unknown,
    )


def _ignored(key: str) -> bool:
    """Keys a status may carry for its own use, as in scenario files: ``$…``, ``x-…``, ``_…``."""
    return key.startswith(("$", "x-", "_"))


def _common_shape(document: dict[str, Any]) -> bool:
    """Whether ``document`` is valid by ``schema/status.json``, checked by hand for speed
    (scale): every status the schema accepts passes here or is passed to the schema,
    which then gives the same messages as ever for one it refuses."""
    return (
        document.get("status") in ("success", "fail", "failure")
        and isinstance(document.get("commonData", {}), dict | None)
        and isinstance(document.get("moduleData", {}), dict | None)
        and isinstance(document.get("message", ""), str)
    )


def _json_kind(document: object) -> str:
    kinds = {list: "a list", str: "a string", bool: "true or false", type(None): "null"}
    return kinds.get(type(document), "a number")


def common_update(
    module: ModuleSpec,
    status: Status,
    declared: Mapping[str, Any] | None,
    config: Mapping[str, Any],
) -> tuple[CommonUpdate, list[str]]:
    """What ``status`` may change in commonData, and a warning for each ignored key."""
    warnings: list[str] = []
    keys: dict[str, Any] = {}
    returned = status.common_data or {}
    if returned and not module.update_common_data:
        warnings.append(
            f"returned commonData keys {', '.join(sorted(returned))}, which were ignored because "
            "the module does not have updateCommonData: true"
        )
    elif returned:
        for key, value in returned.items():
            if key == "storeFronts" and not isinstance(value, dict) and key in (declared or {}):
                warnings.append(
                    "returned commonData 'storeFronts' that is not an object; it was ignored "
                    "(storeFronts maps module names to their last call configs)"
                )
            elif declared is not None and key in declared:
                keys[key] = value
            else:
                warnings.append(
                    f"returned the commonData key {key!r}, which the schedule does not declare; "
                    "it was ignored (declare it under commonData in the schedule to share it)"
                )
    store_front = None
    if module.store_front:
        store_front = (module.name, {k: v for k, v in config.items() if k != "commonData"})
    return CommonUpdate(keys=keys, store_front=store_front), warnings
