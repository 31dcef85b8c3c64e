"""The engine's side of the run database: the :class:`~simba.record.writer.Recorder`
of one driver, opened for the run directory as :mod:`simba.engine.start` opened it."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from simba._version import __version__
from simba.engine.checkpoint import Position
from simba.engine.options import RunOptions
from simba.engine.rundir import RunDirectory
from simba.engine.start import Opening
from simba.engine.state import CommonUpdate
from simba.plan import Call
from simba.record.rows import MergedCall, ModuleRow, Reopening, RunIdentity
from simba.record.writer import PHASES, Recorder
from simba.scenario import Scenario

#: The run database's file name, beside ``checkpoint.json``.
DATABASE = "run.db"


def open_record(
    scenario: Scenario, rundir: RunDirectory, options: RunOptions, opening: Opening
) -> Recorder:
    """The recorder of this driver; a damaged database raises a ``CheckpointError``."""
    cell_id = options.cell_id or scenario.driver.cell_id
    root = rundir.root
    identity = RunIdentity(
        run_id=root.parent.name if cell_id else root.name,
        scenario=str(scenario.source),
        fingerprint=scenario.fingerprint,
        simba_version=__version__,
        cell_id=cell_id,
        command_line=options.command_line or tuple(sys.argv),
    )
    from simba.containers.pinning import recorded

    images = recorded(rundir.root / ".simba") if scenario.containers else {}
    modules = [
        ModuleRow(
            module=m.name,
            idx=m.index,
            type=m.type.value,
            priority=m.priority,
            depends_on=tuple(m.depends_on or ()),
            trusted=m.update_common_data,
            image=images.get(m.name, {}).get("digest"),
        )
        for m in (*scenario.modules, *scenario.services)
    ]
    reopening = None
    if opening.reopened:
        reopening = Reopening(
            position=phase_and_tick(opening.position),
            taken_over=opening.taken_over,
            earlier=opening.earlier,
        )
    path = rundir.checkpoint_file.parent / DATABASE
    return Recorder(path, identity=identity, modules=modules, reopening=reopening)


def phase_and_tick(position: Position) -> tuple[int, int]:
    """Where ``position`` lies in plan order (``done``: after every end call)."""
    return (PHASES.get(position.mode, 3), position.tick)


def merged(
    call: Call,
    slot: int,
    time: datetime,
    update: CommonUpdate,
    module_data: Mapping[str, Any] | None,
    replayed: bool,
) -> MergedCall:
    """The ``state`` row of a successful call's effect on the state (a ``state`` row)."""
    return MergedCall(
        module=call.module.name,
        mode=call.mode.value,
        tick=call.tick,
        target_tick=call.target_tick,
        slot=slot,
        time=time,
        common_data=update.keys,
        module_data=module_data,
        replayed=replayed,
    )
