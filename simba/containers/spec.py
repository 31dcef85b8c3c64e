"""The ``container`` object of a schedule entry, checked and frozen.

``image`` names the image (``name[:tag][@sha256:…]`` for Podman and Docker, a SIF file or
a ``docker://`` reference for Apptainer); ``engine`` is the program that runs it (the first
of :data:`ENGINES` found on ``PATH`` when the entry names none); ``binds`` are extra host
paths, bound at their own paths, read-only unless given as ``PATH:rw``; ``network`` is
``none`` (the default for called modules) or ``host``; ``pull`` is ``never`` or
``missing``; ``options`` are extra engine arguments, put before the image.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from pathlib import Path


class Engine(str, Enum):
    PODMAN = "podman"
    DOCKER = "docker"
    APPTAINER = "apptainer"
    SINGULARITY = "singularity"

    @property
    def oci(self) -> bool:
        """Whether the engine runs OCI images through a daemon or runtime (Podman, Docker),
        rather than SIF files as the invoking user (Apptainer, Singularity)."""
        return self in (Engine.PODMAN, Engine.DOCKER)


#: The engines in the order a ``container`` without ``engine`` looks for them.
ENGINES = (Engine.PODMAN, Engine.DOCKER, Engine.APPTAINER, Engine.SINGULARITY)


class Pull(str, Enum):
    NEVER = "never"
    MISSING = "missing"


class Network(str, Enum):
    NONE = "none"
    HOST = "host"


@dataclass(frozen=True, slots=True, kw_only=True)
class Bind:
    """A host path bound at the same path inside the container."""

    path: Path
    writable: bool = False

    @classmethod
    def parse(cls, text: str, base_dir: Path) -> Bind:
        """``PATH``, ``PATH:ro`` or ``PATH:rw``; a relative path is relative to ``base_dir``."""
        path, _, mode = text.rpartition(":") if text.endswith((":ro", ":rw")) else (text, "", "")
        return cls(path=(base_dir / Path(path).expanduser()).resolve(), writable=mode == "rw")


@dataclass(frozen=True, slots=True, kw_only=True)
class Container:
    """How a module runs in a container."""

    image: str
    engine: Engine
    binds: tuple[Bind, ...] = ()
    network: Network = Network.NONE
    pull: Pull = Pull.NEVER
    options: tuple[str, ...] = ()

    @property
    def pinned(self) -> bool:
        """Whether ``image`` names its digest (``…@sha256:<64 hex digits>``)."""
        return DIGEST.search(self.image) is not None


#: A digest at the end of an image reference.
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
