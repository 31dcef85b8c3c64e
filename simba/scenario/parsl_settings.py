"""The Parsl settings of a ``type: parsl`` module, checked and frozen (DESIGN §6).

A schedule entry names its Parsl objects as the reference driver does: ``executor``
(a HighThroughputExecutor), ``provider`` (LocalProvider or SlurmProvider, at the top
level of the entry or inside the executor) and ``launcher`` (SingleNodeLauncher or
SrunLauncher, at the top level or inside the provider).  The schema has already checked
every key and type; this module turns the JSON into frozen, hashable dataclasses, so
that modules with equal settings share one executor.  Field names are Parsl's
parameter names; ``None`` means "Parsl's default".  Parsl itself is not imported here:
:mod:`simba.runners.parsl_session` builds the Parsl objects.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

#: How to install what type ``parsl`` and ``simba sweep --parsl`` need.
INSTALL_PARSL = "pip install 'simba-cosim[parsl]'"
#: The label of an executor whose settings name none (the reference driver's default).
DEFAULT_LABEL = "HighThroughputExecutor"

#: Reference keys whose Parsl parameter has another name.
_EXECUTOR_RENAMES = {"worker_ports": "worker_port", "max_workers": "max_workers_per_node"}
logger = logging.getLogger(__name__)
#: Reference keys accepted for old files that have no effect (SIMBA moves no files via Parsl).
_IGNORED = frozenset({"type", "provider", "launcher", "storage_access", "move_files"})


class LauncherKind(str, Enum):
    SINGLE_NODE = "SingleNodeLauncher"
    SRUN = "SrunLauncher"


class ProviderKind(str, Enum):
    LOCAL = "LocalProvider"
    SLURM = "SlurmProvider"


@dataclass(frozen=True, slots=True, kw_only=True)
class LauncherSettings:
    kind: LauncherKind = LauncherKind.SINGLE_NODE
    debug: bool | None = None
    fail_on_any: bool | None = None
    """SingleNodeLauncher only."""
    overrides: str | None = None
    """SrunLauncher only."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ProviderSettings:
    kind: ProviderKind = ProviderKind.LOCAL
    launcher: LauncherSettings = field(default_factory=LauncherSettings)
    nodes_per_block: int | None = None
    init_blocks: int | None = None
    min_blocks: int | None = None
    max_blocks: int | None = None
    parallelism: float | None = None
    worker_init: str | None = None
    # SlurmProvider only
    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    constraint: str | None = None
    cores_per_node: int | None = None
    mem_per_node: int | None = None
    walltime: str | None = None
    scheduler_options: str | None = None
    regex_job_id: str | None = None
    exclusive: bool | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutorSettings:
    """A HighThroughputExecutor and the provider and launcher of its blocks."""

    label: str = DEFAULT_LABEL
    provider: ProviderSettings = field(default_factory=ProviderSettings)
    launch_cmd: str | None = None
    address: str | None = None
    worker_port: int | None = None
    worker_port_range: tuple[int, int] | None = None
    interchange_port_range: tuple[int, int] | None = None
    working_dir: str | None = None
    worker_debug: bool | None = None
    cores_per_worker: float | None = None
    mem_per_worker: float | None = None
    max_workers_per_node: int | None = None
    """``None`` also stands for the reference's ``"infinity"``."""
    cpu_affinity: str | None = None
    available_accelerators: int | tuple[str, ...] | None = None
    prefetch_capacity: int | None = None
    heartbeat_threshold: int | None = None
    heartbeat_period: int | None = None
    poll_period: int | None = None
    address_probe_timeout: int | None = None
    worker_logdir_root: str | None = None


def parameters(settings: LauncherSettings | ProviderSettings | ExecutorSettings) -> dict[str, Any]:
    """The Parsl constructor arguments the settings give (nested objects left out)."""
    return {
        f.name: getattr(settings, f.name)
        for f in dataclasses.fields(settings)
        if f.name not in ("kind", "provider", "launcher") and getattr(settings, f.name) is not None
    }


def parse_settings(entry: Mapping[str, Any]) -> tuple[ExecutorSettings, list[tuple[str, str]]]:
    """The executor settings of a schema-valid schedule entry, and problems as (key, sentence).

    A provider may sit at the entry's top level or inside the executor, a launcher at
    the top level or inside the provider.  Where both are given, the top-level one is
    used, as the reference driver's code does (it reads only those); when the two
    differ, a warning names the one ignored.  ``worker_port`` (the key the reference's
    code reads) and ``worker_ports`` (its schema's name) are the same setting; two
    different values are a problem.
    """
    problems: list[tuple[str, str]] = []
    executor_doc: Mapping[str, Any] = entry.get("executor") or {}
    name = entry.get("name")
    provider_doc = _outer(entry, executor_doc, "provider", "the executor", name)
    launcher_doc = _outer(entry, provider_doc, "launcher", "the provider", name)
    ports = {executor_doc.get(key) for key in ("worker_port", "worker_ports")} - {None}
    if len(ports) > 1:
        problems.append(
            (
                "executor.worker_ports",
                "worker_port and worker_ports are the same setting and differ here; keep one",
            )
        )
    launcher = LauncherSettings(
        kind=LauncherKind(launcher_doc.get("type", LauncherKind.SINGLE_NODE.value)),
        **_plain(launcher_doc, {}),
    )
    provider = ProviderSettings(
        kind=ProviderKind(provider_doc.get("type", ProviderKind.LOCAL.value)),
        launcher=launcher,
        **_plain(provider_doc, {}),
    )
    values = _plain(executor_doc, _EXECUTOR_RENAMES)
    if values.get("max_workers_per_node") == "infinity":
        del values["max_workers_per_node"]
    for key in ("worker_port_range", "interchange_port_range", "available_accelerators"):
        if isinstance(values.get(key), list):
            values[key] = tuple(values[key])
    if "max_workers_per_node" in values:
        values["max_workers_per_node"] = int(values["max_workers_per_node"])
    executor = ExecutorSettings(provider=provider, **values)
    return executor, problems


def _outer(
    entry: Mapping[str, Any], holder: Mapping[str, Any], key: str, where: str, name: Any
) -> Mapping[str, Any]:
    """``entry[key]`` (the top-level provider or launcher) if given, else ``holder[key]``."""
    outer, inner = entry.get(key), holder.get(key)
    if outer is not None and inner is not None and dict(outer) != dict(inner):
        logger.warning(
            "module %r: its %s is given both at the top of its schedule entry and inside "
            "%s; SIMBA uses the top-level one, as the reference driver does, and ignores "
            "the other; keep one of the two",
            name,
            key,
            where,
        )
    return outer if outer is not None else (inner or {})


def _plain(document: Mapping[str, Any], renames: Mapping[str, str]) -> dict[str, Any]:
    """The document's settings as keyword arguments: Parsl's names, no nulls, no comments."""
    return {
        renames.get(key, key): value
        for key, value in document.items()
        if key not in _IGNORED and value is not None and not key.startswith(("$", "x-", "_"))
    }


def parsl_installed() -> bool:
    """Whether Parsl can be imported (found without importing it: that takes a second)."""
    import importlib.util

    try:
        return importlib.util.find_spec("parsl") is not None
    except (ImportError, ValueError):  # ValueError: sys.modules["parsl"] is None
        return False
