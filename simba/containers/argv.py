"""The engine command line that runs a module in its container: pure, no I/O.

One rule for the three module types: a ``local`` call, a ``resident`` process (stdin kept
open) and a ``service`` (hardened, its port published on 127.0.0.1) differ only in a few
flags.  The command lines follow the engines' documentation:

- Podman (``podman-run(1)``) and Docker (``docker run`` reference)::

    podman run --rm --name NAME --label simba.run=RUN_DIR [-i] --network none
        (--userns=keep-id | --user UID:GID) --ulimit nofile=S:H --ulimit nproc=S:H
        --volume RUN_DIR:RUN_DIR:rw --volume WORKDIR:WORKDIR:rw [--volume BIND:BIND:ro]
        --workdir WORKDIR --env KEY … [OPTIONS] IMAGE ARGV…

  ``--env KEY`` without a value takes the variable from the engine process's own
  environment, so values (a service token) never show in the process list.  Rootless
  Podman keeps the invoking user's id (``--userns=keep-id``); root Podman and Docker run
  as ``--user UID:GID`` of the invoking user: either way the files a module writes are the
  user's, without chown.  A service gets ``--cap-drop ALL``, ``--security-opt
  no-new-privileges`` and ``--publish 127.0.0.1:PORT:PORT`` instead of ``--network none``.

- Apptainer and Singularity (``apptainer exec`` reference)::

    apptainer exec --contain --pwd WORKDIR --bind RUN_DIR:RUN_DIR:rw
        --bind WORKDIR:WORKDIR:rw [--bind BIND:BIND:ro] [--no-privs] [OPTIONS] IMAGE ARGV…

  They run as the invoking user by nature and pass its environment through; ``--contain``
  keeps the host's home and /tmp out.  They share the host's network (a private one
  needs privileges: ask for it in ``options``).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from simba.containers.spec import Container, Engine, Network

#: The label every container of a run carries; its value is the run directory.
RUN_LABEL = "simba.run"


@dataclass(frozen=True, slots=True, kw_only=True)
class Invocation:
    """What a command line needs besides the module's :class:`Container`."""

    program: str
    """The engine's executable (a path, or a name on PATH)."""
    image: str
    """The image to run: its resolved id for Podman and Docker, so a moved tag cannot
    change a run under way."""
    name: str
    run_dir: Path
    working_directory: Path
    env_keys: Sequence[str] = ()
    uid: int = 0
    gid: int = 0
    rootless: bool = False
    """Podman run by an ordinary user (its user namespace is then kept)."""
    interactive: bool = False
    """Keep stdin open (a resident module reads its requests there)."""
    service_port: int | None = None
    """A service: harden it and publish this port on 127.0.0.1."""
    limits: Sequence[tuple[str, int, int]] = ()
    """``--ulimit`` values ``(name, soft, hard)``; see :func:`simba.containers.engines.limits`."""


def command_line(container: Container, call: Invocation, argv: Sequence[str]) -> list[str]:
    """The full command line that runs ``argv`` in ``container``."""
    if container.engine.oci:
        return [*_oci(container, call), *container.options, call.image, *argv]
    return [*_apptainer(container, call), *container.options, call.image, *argv]


def _mounts(container: Container, call: Invocation) -> list[tuple[Path, str]]:
    """Host paths bound at their own paths, each once (the first mode wins)."""
    found: dict[Path, str] = {}
    for path in (call.run_dir, call.working_directory):
        found.setdefault(path, "rw")
    for bind in container.binds:
        found.setdefault(bind.path, "rw" if bind.writable else "ro")
    return list(found.items())


def _oci(container: Container, call: Invocation) -> list[str]:
    label = f"{RUN_LABEL}={call.run_dir}"
    argv = [call.program, "run", "--rm", "--name", call.name, "--label", label]
    if call.interactive:
        argv.append("--interactive")
    if call.service_port is not None:
        argv += ["--cap-drop", "ALL", "--security-opt", "no-new-privileges"]
        if container.network is Network.HOST:
            argv += ["--network", "host"]
        else:
            argv += ["--publish", f"127.0.0.1:{call.service_port}:{call.service_port}"]
    else:
        argv += ["--network", container.network.value]
    if call.rootless and container.engine is Engine.PODMAN:
        argv.append("--userns=keep-id")
    else:
        argv += ["--user", f"{call.uid}:{call.gid}"]
    for limit, soft, hard in call.limits:
        argv += ["--ulimit", f"{limit}={soft}:{hard}"]
    for path, mode in _mounts(container, call):
        argv += ["--volume", f"{path}:{path}:{mode}"]
    argv += ["--workdir", str(call.working_directory)]
    for key in call.env_keys:
        argv += ["--env", key]
    return argv


def _apptainer(container: Container, call: Invocation) -> list[str]:
    argv = [call.program, "exec", "--contain", "--pwd", str(call.working_directory)]
    for path, mode in _mounts(container, call):
        argv += ["--bind", f"{path}:{path}:{mode}"]
    if call.service_port is not None:
        argv.append("--no-privs")
    return argv


def container_name(run_dir: Path, module: str, number: int) -> str:
    """A name no other run uses: ``simba-<hash of the run directory>-<module>-<number>``."""
    digest = hashlib.sha256(str(run_dir).encode()).hexdigest()[:10]
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", module)
    return f"simba-{digest}-{safe}-{number}"


def remove_argv(engine: Engine, program: str, names: Sequence[str]) -> list[str] | None:
    """The command line that stops and removes containers at once, or None (Apptainer's
    ``exec`` leaves no container: its processes end with the engine's process group)."""
    if engine is Engine.PODMAN:
        return [program, "rm", "--force", "--ignore", "--time", "0", *names]
    if engine is Engine.DOCKER:
        return [program, "rm", "--force", *names]
    return None


def labelled_argv(engine: Engine, program: str, run_dir: Path) -> list[str] | None:
    """The command line that lists the ids of a run's containers (running or not)."""
    if not engine.oci:
        return None
    return [program, "ps", "--all", "--quiet", "--filter", f"label={RUN_LABEL}={run_dir}"]
