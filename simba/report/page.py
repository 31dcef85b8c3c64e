"""The report as one self-contained HTML file: Jinja2 template, ECharts and data inlined.

The file holds everything it needs and asks for nothing: the stylesheet, the vendored
Apache ECharts (checked against its pinned sha256, embedded once), the report's own
script (once), and the charts' data as one compact JSON document in a
``<script type="application/json">``.  A Content-Security-Policy in the page forbids
every request (``default-src 'none'``), so it opens offline and cannot reach a network.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from simba._version import __version__
from simba.errors import RunDirectoryError

HERE = Path(__file__).resolve().parent
ECHARTS = HERE / "vendor" / "echarts.min.js"
ECHARTS_VERSION = "6.1.0"
ECHARTS_SHA256 = "b66b25aeb4df84e33199dc21694014d336d222cbd9deb0e5a7c14bd6aa0d0fd0"


def build(root: Path) -> str:
    """The report of the run or sweep in ``root``, as HTML text."""
    from simba.report.sweep_page import is_sweep, sweep_page

    if not root.is_dir():
        raise RunDirectoryError(
            f"{root} is not a directory; give the directory of a run or of a sweep"
        )
    if is_sweep(root):
        page: Any = sweep_page(root)
        template = "sweep.html.j2"
    else:
        from simba.report.record import read_run
        from simba.report.run_page import run_page

        page = run_page(read_run(root))
        template = "run.html.j2"
    text: str = (
        _environment()
        .get_template(template)
        .render(
            page=page,
            data=page_json(page.data),
            echarts=_echarts(),
            script=(HERE / "assets" / "report.js").read_text(encoding="utf-8"),
            style=(HERE / "assets" / "report.css").read_text(encoding="utf-8"),
            version=__version__,
            echarts_version=ECHARTS_VERSION,
        )
    )
    return text


def write(root: Path, output: Path | None = None) -> Path:
    """Write the report of ``root`` to ``output`` (default ``<root>/report.html``)."""
    target = output if output is not None else root / "report.html"
    text = build(root)
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    try:
        partial.write_text(text, encoding="utf-8")
        partial.replace(target)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise RunDirectoryError(
            f"cannot write the report to {target}: {exc.strerror}; choose another path with -o"
        ) from exc
    return target


def page_json(data: Any) -> str:
    """Compact JSON safe inside a ``<script>`` element: no ``<`` (so no ``</script>``)."""
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return text.replace("<", "\\u003c")


@functools.lru_cache(maxsize=1)
def _echarts() -> str:
    payload = ECHARTS.read_bytes()
    digest = hashlib.sha256(payload).hexdigest()
    if digest != ECHARTS_SHA256:
        raise RunDirectoryError(
            f"{ECHARTS} is not the vendored ECharts {ECHARTS_VERSION} (sha256 {digest}); "
            "restore it with: bash simba/report/vendor/refetch.sh"
        )
    return payload.decode("utf-8")


@functools.lru_cache(maxsize=1)
def _environment() -> Any:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
