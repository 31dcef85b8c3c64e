"""A call's config document: built from the state, and put in place before each attempt.

:meth:`ConfigWriter.build` gives a call's config path, status path and document;
:meth:`ConfigWriter.place` writes it for an attempt by the rules that keep a run
directory honest: a retry or a directory an earlier driver made gets its config
afresh (whatever a module did to it), a new directory gets it without a rename
(nothing reads it yet), and a status that could be stale is removed first.  Whatever
the previous module did to the call's directory (removed it, put a link, a named pipe
or a directory of its own at the config's path), the call starts with its config.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from simba.engine.protocol import build_config, derive_seed
from simba.engine.rundir import RunDirectory
from simba.engine.state import ModuleState
from simba.jsonfile import write_json, write_json_new
from simba.plan import Call

if TYPE_CHECKING:
    from simba.engine.services import ServiceHost

#: A call's config path, status path and config document.
CallConfig = tuple[Path, Path, dict[str, Any]]


class ConfigWriter:
    """Builds and writes the config documents of a run's calls."""

    def __init__(
        self, rundir: RunDirectory, services: ServiceHost, *, seed: int | None = None
    ) -> None:
        self.rundir = rundir
        self.seed = seed
        self.timeline = rundir.timeline
        self.services = services

    def build(
        self,
        call: Call,
        directory: Path,
        current_time: datetime,
        common_view: Mapping[str, Any] | None,
        module_state: ModuleState,
    ) -> CallConfig:
        """The config path, status path and config document of ``call``."""
        index = call.module.index
        rundir = self.rundir
        config_path = rundir.config_path(directory, index)
        status_path = rundir.status_path(directory, index)
        timeline = self.timeline
        target_time = timeline.time(call.target_tick) if call.target_tick is not None else None
        config = build_config(
            call,
            status_file=status_path,
            run_dir=rundir.root,
            tick_format=timeline.tick_format,
            current_time=current_time,
            target_time=target_time,
            module_state=module_state,
            common_data=common_view,
            services=self.services.documents,
            seed=None if self.seed is None else derive_seed(self.seed, call.module.name),
        )
        return config_path, status_path, config

    @staticmethod
    def place(
        config: CallConfig, attempt: int, *, made_here: bool, untouched: bool, written: bool
    ) -> None:
        """Put ``config`` in place for ``attempt``, and no status file that could count.

        ``made_here``: this driver made the call's directory; ``untouched``: it made it
        just now, so no module can have written in it; ``written``: the config is in
        place already (written ahead while the previous call ran, nothing changed since).
        """
        config_path, status_path, document = config
        if attempt > 1 or not made_here:  # afresh, whatever a module did to it
            _write_afresh(config_path, document)
        elif not written:
            try:
                write_json_new(config_path, document)  # nothing reads it yet: no rename needed
            except OSError:  # the previous module removed the directory, or put something
                _write_afresh(config_path, document)  # in the config's place
        if attempt > 1 or not untouched:
            status_path.unlink(missing_ok=True)  # a stale status must never count


def _write_afresh(path: Path, document: dict[str, Any]) -> None:
    """Write ``path`` by a rename (which replaces a link or a named pipe, never follows
    it), making its directory again if a module removed it."""
    try:
        write_json(path, document)
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json(path, document)
