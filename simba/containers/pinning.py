"""Images pinned for a run: resolved to digests at run start, kept in ``.simba/images.json``.

A new run resolves every module's image (pulling it if ``pull`` says so) and writes the
file; the runner then starts each container from the recorded digest, so a tag moved
during the run changes nothing.  A resumed run resolves them again and refuses to go on
if any digest differs from the recorded one, as it refuses a changed scenario.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from simba.containers.engines import ContainerError, find_engine, resolve
from simba.containers.spec import Container
from simba.errors import CheckpointError
from simba.jsonfile import JSONFileError, read_json, write_json

#: The file beside the checkpoint, in the run's ``.simba`` directory.
IMAGES_FILE = "images.json"


def resolve_all(containers: Mapping[str, Container]) -> dict[str, dict[str, str]]:
    """``{module: {"engine", "image", "digest"}}``, each distinct image resolved once."""
    seen: dict[tuple[str, str], str] = {}
    found: dict[str, dict[str, str]] = {}
    for module, container in containers.items():
        key = (container.engine.value, container.image)
        if key not in seen:
            engine = find_engine(container.engine)
            if engine is None:
                raise ContainerError(
                    f"module {module!r} runs in {container.engine.value}, which is not on "
                    "PATH; install it or name another engine in its 'container'"
                )
            seen[key] = resolve(container, engine[1])
        found[module] = {
            "engine": container.engine.value,
            "image": container.image,
            "digest": seen[key],
        }
    return found


def pin(containers: Mapping[str, Container], simba_dir: Path, *, resume: bool) -> None:
    """Resolve the images and record them; on ``resume``, refuse a changed digest."""
    if not containers:
        return
    found = resolve_all(containers)
    file = simba_dir / IMAGES_FILE
    if resume and file.exists():
        _compare(recorded(simba_dir), found, file)
        return
    write_json(file, {"images": found}, sync=True)


def recorded(simba_dir: Path) -> dict[str, dict[str, str]]:
    """The images a run recorded (``{}`` if it has none)."""
    file = simba_dir / IMAGES_FILE
    try:
        document: Any = read_json(file)
    except FileNotFoundError:
        return {}
    except JSONFileError as exc:
        raise CheckpointError(f"{file} is damaged ({exc}); start the run anew") from exc
    images = document.get("images") if isinstance(document, dict) else None
    return images if isinstance(images, dict) else {}


def _compare(
    before: Mapping[str, Mapping[str, str]], now: Mapping[str, Mapping[str, str]], file: Path
) -> None:
    changed = [
        f"module {module!r}: {image['image']} was {before[module].get('digest')} and is now "
        f"{image['digest']}"
        for module, image in now.items()
        if module in before and before[module].get("digest") != image["digest"]
    ]
    if changed:
        raise CheckpointError(
            f"cannot resume: an image changed since the run started ({'; '.join(changed)}; "
            f"recorded in {file}); restore the image (pin it by digest), or start a new run"
        )
