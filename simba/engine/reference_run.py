"""A run directory written by the reference driver, taken over by ``continueFromTick``.

The reference driver (``simbaDriver``) writes ``<runId>[/<cellId>]/`` with a directory
per tick, ``end/`` and an absolute ``start`` link, but no ``.simba/``.  It numbers the
tick directories with the base-10 logarithm of the final tick rounded up, and the files
of a call with that of the module count, so where either is a power of ten its names
have one digit fewer than SIMBA's (``0`` .. ``10`` where SIMBA writes ``00`` .. ``10``,
``module_1.json`` where SIMBA writes ``module_01.json``).

Before SIMBA continues such a run it renames those directories and files to its own
numbers (their contents stay as they are), points ``start`` at the initial tick's
directory with a relative link, and adds ``.simba/`` last: a driver stopped half-way
leaves a directory that the same command takes over again.
"""

from __future__ import annotations

import re
from pathlib import Path

from simba.engine.rundir import RunDirectory
from simba.errors import RunDirectoryError

#: The files the reference writes for a call: ``module_<index>.json`` and so on.
_CALL_FILE = re.compile(r"(module|status|stdout|stderr)_([0-9]+)(\.json)?", re.ASCII)
_TICK = re.compile(r"[0-9]+", re.ASCII)


def is_reference_run(root: Path) -> bool:
    """Whether ``root`` looks like a run directory of the reference driver.

    It has no ``.simba/`` but the ``start`` link the reference makes at every start.
    """
    return root.is_dir() and not (root / ".simba").exists() and (root / "start").is_symlink()


def adopt(rundir: RunDirectory, initial_tick: int) -> list[tuple[str, str]]:
    """Rename the reference's tick directories and call files to SIMBA's numbers.

    Returns the renames made (relative paths, old and new).  Raises
    :class:`RunDirectoryError` where a new name is taken already.
    """
    root = rundir.root
    renames: list[tuple[Path, Path]] = []
    for directory in sorted(root.iterdir()):
        if directory.is_symlink() or not directory.is_dir():
            continue
        is_tick = _TICK.fullmatch(directory.name) is not None
        if not is_tick and directory.name != "end":
            continue
        for file in sorted(directory.iterdir()):
            match = _CALL_FILE.fullmatch(file.name)
            if match is not None:
                kind, number, suffix = match.groups()
                name = f"{kind}_{rundir.number(int(number))}{suffix or ''}"
                renames.append((file, directory / name))
        if is_tick:
            renames.append((directory, rundir.tick_dir(int(directory.name))))
    renames = [(source, target) for source, target in renames if source != target]
    for source, target in renames:  # every name checked before anything moves
        if target.exists() or target.is_symlink():
            raise RunDirectoryError(
                f"cannot continue the reference driver's run in {root}: "
                f"{source.relative_to(root)} would become {target.relative_to(root)}, which "
                "exists already; move one of them away"
            )
    for source, target in renames:  # files first: their directories move after them
        source.rename(target)
    done = [(str(s.relative_to(root)), str(t.relative_to(root))) for s, t in renames]
    rundir.link_start(rundir.tick_dir(initial_tick))
    rundir.meta.mkdir()
    return done
