"""Sphinx configuration for the SIMBA documentation."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))
sys.path.insert(0, str(HERE.parent))

from simba._version import __version__  # noqa: E402

project = "SIMBA"
author = "The SIMBA authors"
copyright = "SIMBA authors"
version = __version__
release = __version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.graphviz",
    "sphinx_click",
    "schemadoc",
    "layersdiagram",
]

exclude_patterns = ["_build"]
templates_path: list[str] = []
html_static_path: list[str] = []
nitpicky = False

# The SDK uses ``from __future__ import annotations``; types go into the description.
autodoc_typehints = "description"
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True}

# The figures are Graphviz sources in the pages, drawn by Debian's `dot` at build time
# (apt-get install graphviz), as SVG so that they stay sharp and their text searchable.
graphviz_output_format = "svg"
graphviz_dot_args = [
    "-Gfontname=Helvetica",
    "-Nfontname=Helvetica",
    "-Efontname=Helvetica",
    "-Gfontsize=12",
    "-Nfontsize=12",
    "-Efontsize=11",
    "-Gbgcolor=transparent",
]

#: Where the schemadoc directive finds the JSON Schemas (the repository's schema/).
simba_schema_dir = str(HERE.parent / "schema")

#: Where the layersdiagram directives read the import contracts (what lint-imports checks).
simba_pyproject = str(HERE.parent / "pyproject.toml")

# Furo (https://github.com/pradyunsg/furo), a maintained theme, from the docs extra.
html_theme = "furo"
html_title = f"SIMBA {release}"
