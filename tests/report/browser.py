"""Headless Chromium through Playwright, for the report's real-browser tests.

The browser is Debian's ``chromium`` (``.ci/run`` installs it), never one that a test
tool downloads.  Every request the page makes and every console message is recorded.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path(os.environ.get("SIMBA_CHROMIUM", "/usr/bin/chromium"))
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium() -> Iterator[Any]:
    """A launched browser (for a fixture); the test is skipped, saying why, without one."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("Playwright is not installed: pip install -e '.[test]'")
    if not CHROMIUM.is_file():
        pytest.skip(f"no Chromium at {CHROMIUM}: apt-get install chromium (.ci/run does)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Opened:
    """A report opened in a page, with what the page asked for and said."""

    page: Any
    requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)

    def close(self) -> None:
        self.page.context.close()


def open_report(browser: Any, path: Path) -> Opened:
    """Open the file ``path`` and wait until its script has drawn every chart."""
    context = browser.new_context(viewport={"width": 1300, "height": 900})
    page = context.new_page()
    opened = Opened(page=page)
    context.on("request", lambda request: opened.requests.append(request.url))
    page.on(
        "console",
        lambda message: (
            opened.console_errors.append(message.text) if message.type == "error" else None
        ),
    )
    page.on("pageerror", lambda error: opened.console_errors.append(str(error)))
    page.goto(path.resolve().as_uri())
    page.wait_for_selector("body[data-ready='1']", timeout=30_000)
    return opened


def distinct_colours(browser: Any, png: bytes) -> int:
    """How many distinct pixel colours a PNG has, decoded by the browser in a blank page."""
    context = browser.new_context()
    try:
        page = context.new_page()
        source = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
        return int(
            page.evaluate(
                """async (source) => {
                    const image = new Image();
                    image.src = source;
                    await image.decode();
                    const canvas = document.createElement("canvas");
                    canvas.width = image.width; canvas.height = image.height;
                    const context = canvas.getContext("2d");
                    context.drawImage(image, 0, 0);
                    const pixels = context.getImageData(0, 0, image.width, image.height).data;
                    const seen = new Set();
                    for (let i = 0; i < pixels.length; i += 4) {
                        seen.add((pixels[i] << 16) | (pixels[i + 1] << 8) | pixels[i + 2]);
                    }
                    return seen.size;
                }""",
                source,
            )
        )
    finally:
        context.close()


#: For each module of the timeline: how many bars of its colour lie in its row.
BARS_PER_MODULE = """() => {
    const report = window.simbaReport;
    const chart = report.charts.timeline;
    const probe = document.createElement("span");
    document.body.appendChild(probe);
    const rgb = (colour) => { probe.style.color = colour; return getComputedStyle(probe).color; };
    const paths = [...document.querySelectorAll("#timeline svg path")];
    const names = report.data.modules;
    const rows = names.map((_, i) => chart.convertToPixel({yAxisIndex: 0}, i));
    const half = names.length > 1 ? Math.abs(rows[1] - rows[0]) / 2 : 50;
    const counts = {};
    names.forEach((name, i) => {
        const colour = rgb(report.colours[i]);
        counts[name] = paths.filter((path) => {
            if (getComputedStyle(path).fill !== colour) return false;
            const box = path.getBBox();
            return Math.abs(box.y + box.height / 2 - rows[i]) < half && box.width >= 1;
        }).length;
    });
    probe.remove();
    return counts;
}"""

#: The keys that have a chart with a drawn line (an SVG path of at least one segment), or
#: for a key of one point, its symbol (a path drawn with arcs or curves).
CHARTED_KEYS = """() => [...document.querySelectorAll("[data-key]")]
    .filter((node) => [...node.querySelectorAll("svg path")].some((path) => {
        const d = path.getAttribute("d") || "";
        return d.split("L").length > 1 || (node.dataset.points === "1" && /[AC]/.test(d));
    }))
    .map((node) => node.getAttribute("data-key"))"""
