"""Draw SIMBA's import contracts (``[tool.importlinter]`` in pyproject.toml) at build time.

Usage in reStructuredText::

    .. simba-layers::

draws the ``layers`` contract as an inline SVG: one row per layer, top to bottom, a box
per module.  Siblings written ``a | b`` (independent: neither imports the other) are
separate boxes; siblings written ``a : b`` (they may import each other) are cells of one
box; a module in parentheses (optional: still to come) is named in grey italics, and
an optional box has a dashed outline.

::

    .. simba-contracts::

lists every contract: its name, its kind and what it forbids.

Both read the file named by the ``simba_pyproject`` setting, the one that ``lint-imports``
checks, so the picture cannot drift from the rules CI enforces.  No network and no
Graphviz: the SVG is written here.  Other builders than HTML get the layers as text.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

from docutils import nodes
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

if sys.version_info >= (3, 11):
    import tomllib
else:  # Sphinx depends on tomli before Python 3.11
    import tomli as tomllib

__version__ = "1.0"

#: Geometry of the drawing, in SVG user units.
WIDTH = 680
MARGIN = 56
ROW = 34
GAP = 14
SIBLING_GAP = 16


@dataclass(frozen=True)
class Layer:
    """One row: its modules, whether they are independent, which ones may be absent."""

    modules: tuple[str, ...]
    independent: bool
    optional: frozenset[str]


def parse_layer(text: str) -> Layer:
    """``"a | b"``, ``"a : (b)"`` or ``"a"`` -> a :class:`Layer`."""
    separator = "|" if "|" in text else ":"
    names = [part.strip() for part in text.split(separator)]
    optional = frozenset(n.strip("()") for n in names if n.startswith("("))
    return Layer(tuple(n.strip("()") for n in names), separator == "|" and len(names) > 1, optional)


def read_contracts(path: Path) -> list[dict[str, Any]]:
    """The contracts of ``[tool.importlinter]`` in the pyproject.toml at ``path``."""
    with path.open("rb") as handle:
        document = tomllib.load(handle)
    contracts = document.get("tool", {}).get("importlinter", {}).get("contracts", [])
    if not isinstance(contracts, list):
        raise ValueError("[tool.importlinter] contracts is not a list of tables")
    return contracts


def _box(x: float, y: float, width: float, dashed: bool) -> str:
    dash = ' stroke-dasharray="5 4"' if dashed else ""
    return (
        f'<rect x="{x:.1f}" y="{y}" width="{width:.1f}" height="{ROW}" rx="5" '
        f'fill="#eef3f8" stroke="#4a6785" stroke-width="1.2"{dash}/>'
    )


def _label(x: float, y: float, text: str, optional: bool) -> str:
    style = ' font-style="italic" fill="#6b7b8c"' if optional else ' fill="#1d2b3a"'
    return (
        f'<text x="{x:.1f}" y="{y + ROW / 2 + 4.5}" text-anchor="middle" '
        f'font-family="sans-serif" font-size="13"{style}>{escape(text)}</text>'
    )


def _row(layer: Layer, y: float, prefix: str) -> list[str]:
    """The SVG elements of one layer at height ``y``."""
    count = len(layer.modules)
    span = WIDTH - MARGIN - 8
    parts: list[str] = []
    if layer.independent:
        width = (span - SIBLING_GAP * (count - 1)) / count
        for i, name in enumerate(layer.modules):
            x = MARGIN + i * (width + SIBLING_GAP)
            parts.append(_box(x, y, width, name in layer.optional))
            parts.append(_label(x + width / 2, y, prefix + name, name in layer.optional))
        return parts
    dashed = len(layer.optional) == count
    parts.append(_box(MARGIN, y, span, dashed))
    width = span / count
    for i, name in enumerate(layer.modules):
        x = MARGIN + i * width
        if i:
            parts.append(
                f'<line x1="{x:.1f}" y1="{y + 6}" x2="{x:.1f}" y2="{y + ROW - 6}" '
                'stroke="#4a6785" stroke-width="0.8" stroke-dasharray="2 3"/>'
            )
        parts.append(_label(x + width / 2, y, prefix + name, name in layer.optional))
    return parts


def svg(layers: list[Layer], prefix: str, title: str) -> str:
    """The whole drawing: the rows, and an arrow down the left saying where imports point."""
    height = len(layers) * (ROW + GAP) - GAP + 16
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {WIDTH} {height}" '
        f'style="max-width: 100%; height: auto" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        # The arrow head points along the line (+x of the marker, turned by orient=auto).
        '<defs><marker id="simba-arrow" viewBox="0 0 10 10" refX="9" refY="5" '
        'markerWidth="7" markerHeight="7" orient="auto">'
        '<path d="M0,0 L10,5 L0,10 z" fill="#4a6785"/></marker></defs>',
    ]
    bottom = height - 12
    parts.append(
        f'<line x1="20" y1="8" x2="20" y2="{bottom}" stroke="#4a6785" stroke-width="2" '
        'marker-end="url(#simba-arrow)"/>'
    )
    parts.append(
        f'<text transform="translate(38 {bottom / 2:.0f}) rotate(-90)" text-anchor="middle" '
        'font-family="sans-serif" font-size="12" fill="#4a6785">imports point down</text>'
    )
    for i, layer in enumerate(layers):
        parts += _row(layer, 4 + i * (ROW + GAP), prefix)
    parts.append("</svg>")
    return "\n".join(parts)


def as_text(layers: list[Layer], prefix: str) -> str:
    """The layers as lines of text, top first (for builders other than HTML)."""
    lines = []
    for layer in layers:
        separator = " | " if layer.independent else " : "
        names = [prefix + n + ("?" if n in layer.optional else "") for n in layer.modules]
        lines.append(separator.join(names))
    return "\n".join(lines)


class _ContractsDirective(SphinxDirective):
    def contracts(self) -> list[dict[str, Any]]:
        path = Path(self.config.simba_pyproject)
        self.env.note_dependency(str(path))
        try:
            return read_contracts(path)
        except (OSError, ValueError) as exc:
            raise self.error(f"cannot read the import contracts in {path}: {exc}") from exc


class LayersDirective(_ContractsDirective):
    """``.. simba-layers::`` draws the first ``layers`` contract."""

    def run(self) -> list[nodes.Node]:
        found = [c for c in self.contracts() if c.get("type") == "layers"]
        if not found:
            raise self.error(f"{self.config.simba_pyproject} declares no layers contract")
        contract = found[0]
        containers = contract.get("containers", [])
        prefix = f"{containers[0]}." if len(containers) == 1 else ""
        layers = [parse_layer(text) for text in contract["layers"]]
        title = str(contract.get("name", "Layers"))
        html = addnodes.only(expr="html")
        html += nodes.raw("", svg(layers, prefix, title), format="html")
        other = addnodes.only(expr="not html")
        other += nodes.literal_block("", as_text(layers, prefix))
        return [html, other]


def _literals(names: list[str]) -> list[nodes.Node]:
    result: list[nodes.Node] = []
    for i, name in enumerate(names):
        if i:
            result.append(nodes.Text(", "))
        result.append(nodes.literal("", name))
    return result


def _what(contract: dict[str, Any]) -> list[nodes.Node]:
    """What a contract forbids, in words."""
    kind = contract.get("type")
    if kind == "forbidden":
        direct = contract.get("allow_indirect_imports", False)
        words: list[nodes.Node] = [
            *_literals(contract["source_modules"]),
            nodes.Text(" may not import " + ("directly " if direct else "")),
            *_literals(contract["forbidden_modules"]),
        ]
        if contract.get("ignore_imports"):
            words += [
                nodes.Text(" (except "),
                *_literals(contract["ignore_imports"]),
                nodes.Text(")"),
            ]
        if not direct:
            words.append(nodes.Text(", nor through other modules"))
        return words
    if kind == "layers":
        return [nodes.Text("no import from a layer to one above it (the drawing above)")]
    if kind == "acyclic_siblings":
        return [
            nodes.Text("no cycle among the modules of any package under "),
            *_literals(contract["ancestors"]),
        ]
    if kind == "independence":
        return [*_literals(contract["modules"]), nodes.Text(" never import one another")]
    return [nodes.Text(str(kind))]


class ContractsDirective(_ContractsDirective):
    """``.. simba-contracts::`` lists every contract and what it forbids."""

    def run(self) -> list[nodes.Node]:
        items = nodes.bullet_list()
        for contract in self.contracts():
            paragraph = nodes.paragraph()
            paragraph += nodes.strong("", str(contract.get("name", contract.get("id", "?"))))
            paragraph += nodes.Text(": ")
            paragraph += _what(contract)
            paragraph += nodes.Text(".")
            items += nodes.list_item("", paragraph)
        return [items]


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_config_value("simba_pyproject", "", "env", types=frozenset({str}))
    app.add_directive("simba-layers", LayersDirective)
    app.add_directive("simba-contracts", ContractsDirective)
    return {"version": __version__, "parallel_read_safe": True, "parallel_write_safe": True}
