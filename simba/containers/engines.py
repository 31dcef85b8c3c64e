"""The engines on this machine: finding them, resolving an image to its digest, pulling
it, the ulimits a container gets, and removing a run's containers by label.

Every engine command runs with a time limit and its failure becomes a
:class:`ContainerError` whose message names the command and its last line of stderr.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import resource
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from simba.containers.argv import labelled_argv, remove_argv
from simba.containers.spec import ENGINES, Container, Engine, Pull
from simba.errors import RunnerError

#: Seconds an engine query (inspect, ps, rm) may take; a pull may take longer.
QUERY_TIMEOUT = 60.0
PULL_TIMEOUT = 900.0


class ContainerError(RunnerError):
    """An engine command failed, or an image is missing or changed; the message says
    which and what to do, for a user."""


def find_engine(wanted: Engine | None = None) -> tuple[Engine, str] | None:
    """``wanted`` (or the first of :data:`ENGINES`) and its path on PATH, or None."""
    for engine in (wanted,) if wanted is not None else ENGINES:
        path = shutil.which(engine.value)
        if path is not None:
            return engine, path
    return None


def rootless(engine: Engine) -> bool:
    """Whether ``engine`` runs containers without root (Podman started by a user)."""
    return engine is Engine.PODMAN and os.geteuid() != 0


def limits() -> tuple[tuple[str, int, int], ...]:
    """The ``nofile`` and ``nproc`` limits a container gets: the driver's own.

    The engines' defaults (Podman: 1048576 open files) can exceed the hard limits of a
    restricted host, and runc then refuses to start the container ("error setting
    rlimit").  ``nproc`` is also capped at ``kernel.pid_max``, above which the runtime's
    own limit is lowered on such hosts.  ``options`` may give other ``--ulimit`` values.
    """
    found = []
    pid_max = _pid_max()
    for name, which in (("nofile", resource.RLIMIT_NOFILE), ("nproc", resource.RLIMIT_NPROC)):
        soft, hard = resource.getrlimit(which)
        cap = pid_max if name == "nproc" else None
        soft, hard = (_finite(value, hard, cap) for value in (soft, hard))
        found.append((name, min(soft, hard), hard))
    return tuple(found)


def _pid_max() -> int | None:
    try:
        return int(Path("/proc/sys/kernel/pid_max").read_text())
    except (OSError, ValueError):
        return None


def _finite(value: int, hard: int, cap: int | None) -> int:
    if value == resource.RLIM_INFINITY:
        value = hard if hard != resource.RLIM_INFINITY else 1 << 20
    return min(value, cap) if cap is not None else value


def run_engine(argv: Sequence[str], *, timeout: float = QUERY_TIMEOUT) -> str:
    """``argv``'s stdout; raises :class:`ContainerError` when it fails."""
    try:
        done = subprocess.run(
            list(argv), capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ContainerError(f"'{' '.join(argv[:3])}' failed: {exc}") from exc
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or [f"exit code {done.returncode}"]
        raise ContainerError(f"'{' '.join(argv[:3])}' failed: {lines[-1]}")
    return done.stdout


def image_id(container: Container, program: str) -> str | None:
    """The image's content digest (``sha256:…``), or None if it is not on this machine.

    Podman and Docker: the image id (the digest of its configuration, which changes
    with any change of its content).  Apptainer: the sha256 of the SIF file.
    """
    if container.engine.oci:
        argv = [program, "image", "inspect", "--format", "{{.Id}}", container.image]
        try:
            found = run_engine(argv).strip()
        except ContainerError:
            return None
        return found if found.startswith("sha256:") else f"sha256:{found}"
    path = Path(container.image)
    if not path.is_file():
        return None
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return f"sha256:{digest.hexdigest()}"


def resolve(container: Container, program: str) -> str:
    """The image's digest, pulled first if ``pull`` is ``missing``; raises
    :class:`ContainerError` if the image is not there and cannot be pulled."""
    found = image_id(container, program)
    if found is None and container.pull is Pull.MISSING and container.engine.oci:
        run_engine([program, "pull", container.image], timeout=PULL_TIMEOUT)
        found = image_id(container, program)
    if found is None:
        how = (
            f"pull it ('{container.engine.value} pull {container.image}') or set "
            '"pull": "missing"'
            if container.engine.oci
            else "give the path of an existing SIF file (apptainer build/pull makes one)"
        )
        raise ContainerError(
            f"the image {container.image!r} is not on this machine for "
            f"{container.engine.value}; {how}"
        )
    return found


def remove(engine: Engine, program: str, names: Sequence[str]) -> None:
    """Stop and remove the named containers now (missing ones are no error)."""
    argv = remove_argv(engine, program, names)
    if argv is None or not names:
        return
    with contextlib.suppress(ContainerError):  # Docker: "no such container" for a gone one
        run_engine(argv)


def remove_run(engine: Engine, program: str, run_dir: Path) -> int:
    """Stop and remove every container labelled with ``run_dir``; how many there were."""
    argv = labelled_argv(engine, program, run_dir)
    if argv is None:
        return 0
    try:
        ids = run_engine(argv).split()
    except ContainerError:
        return 0  # no daemon, no containers of this run
    remove(engine, program, ids)
    return len(ids)
