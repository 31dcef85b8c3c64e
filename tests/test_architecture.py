"""docs/architecture.rst's package map lists exactly the modules in simba/."""

from __future__ import annotations

import re

from conftest import ROOT


def _mapped_modules() -> set[str]:
    """The module paths the package map names (``engine/loop.py``)."""
    page = (ROOT / "docs" / "architecture.rst").read_text(encoding="utf-8")
    block = page.split("The package map", 1)[1].split("The life of one call", 1)[0]
    found: set[str] = set()
    folder = ""
    for line in block.splitlines():
        entry = re.match(r"^   ( *)(\S+)", line)
        if entry is None or line.strip().startswith((".. ", "One line")):
            continue
        depth, name = len(entry.group(1)) // 2, entry.group(2)
        if name == "simba/":
            continue
        if name.endswith("/"):
            folder = name
        elif name.endswith(".py"):
            found.add(f"{folder}{name}" if depth == 2 else name)
    return found


def test_package_map_lists_every_module_and_only_real_ones() -> None:
    """Every module of simba/ (but __init__.py of subpackages) has a line, and no line is stale."""
    package = ROOT / "simba"
    actual = {
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        if not (path.name == "__init__.py" and path.parent != package)
    }
    mapped = _mapped_modules()
    assert mapped, "the package map was not found in docs/architecture.rst"
    assert sorted(actual - mapped) == [], "modules missing from the package map"
    assert sorted(mapped - actual) == [], "the package map names modules that do not exist"
