"""A schedule entry's ``container`` (or its package's image) -> a checked :class:`Container`.

Checked before any run (so ``simba validate`` says it too): the engine is on ``PATH``,
every bind exists, and the image is on this machine unless ``pull`` may fetch it.  A
package whose descriptor names an image runs in it even without a ``container`` object;
its directory is bound read-only, so its files are found at their own paths.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from simba.containers.engines import find_engine, image_id
from simba.containers.spec import Bind, Container, Engine, Network, Pull
from simba.scenario.problems import Problems

if TYPE_CHECKING:
    from simba.packages.store import InstalledPackage


def parse(
    problems: Problems,
    file: Path,
    here: str,
    entry: dict[str, Any],
    base_dir: Path,
    package: InstalledPackage | None,
) -> Container | None:
    """The entry's container, or None (none asked for, or a problem was added)."""
    document: dict[str, Any] | None = entry.get("container")
    image = package.descriptor.image if package is not None else None
    if document is None and image is None:
        return None
    document = {"image": image, **(document or {})}
    where = f"{here}.container"
    wanted = Engine(document["engine"]) if "engine" in document else None
    found = find_engine(wanted)
    if found is None:
        names = wanted.value if wanted else "podman, docker, apptainer or singularity"
        problems.add(
            file,
            where,
            f"module {entry['name']!r} runs in a container, but {names} is not on PATH; "
            "install an engine (Podman: apt-get install podman runc uidmap) or name one "
            "that is installed in 'engine'",
        )
        return None
    binds = [Bind.parse(text, base_dir) for text in document.get("binds", ())]
    for i, bind in enumerate(binds):
        if not bind.path.exists():
            problems.add(file, f"{where}.binds[{i}]", f"{bind.path} does not exist")
    if package is not None:
        binds.append(Bind(path=package.directory))
    container = Container(
        image=document["image"],
        engine=found[0],
        binds=tuple(binds),
        network=Network(document.get("network", Network.NONE.value)),
        pull=Pull(document.get("pull", Pull.NEVER.value)),
        options=tuple(document.get("options", ())),
    )
    if container.pull is Pull.NEVER and image_id(container, found[1]) is None:
        problems.add(
            file,
            f"{where}.image",
            f"the image {container.image!r} is not on this machine for {found[0].value}; "
            f'pull or build it, or set "pull": "missing"',
        )
    return container
