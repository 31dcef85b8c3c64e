"""JUnit XML for CI systems: ``--junit FILE`` on ``simba run``, ``simba sweep``, ``simba compare``.

The file follows the JUnit schema that Jenkins, GitLab and GitHub test-report actions
read (``<testsuites>`` of ``<testsuite>`` of ``<testcase>``; the tests validate it
against Jenkins' ``junit-10.xsd``).  Test cases:

* ``simba run``: one, named by the run id; a failed or interrupted run is a
  ``<failure>`` whose message is the error's first line and whose text is the whole
  error and the last lines the modules printed (the run database's messages);
* ``simba sweep``: one per cell, with the cell's error and the tail of its log;
* ``simba compare``: one per run (each cell of a sweep) for its outcome and calls, and
  one per key group (``commonData.<key>``, ``moduleData.<module>``), failing with every
  differing key, its first differing tick and its values.

Durations are wall-clock seconds (``time``).  Text is cleaned of the characters XML 1.0
cannot carry.
"""

from __future__ import annotations

import re
import socket
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

#: Characters XML 1.0 cannot carry, even escaped.
_UNSAFE = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
#: The most log lines a failed test case carries.
TAIL_LINES = 40


@dataclass(frozen=True, slots=True, kw_only=True)
class JUnitCase:
    name: str
    classname: str
    time: float = 0.0
    failure: str | None = None
    """The failure's message (one line); ``None`` for a passed test."""
    details: str = ""
    """The failure's text: the cause and the log tail."""
    output: str = ""
    """``<system-out>``: what the test printed (a log tail), if anything."""


@dataclass(frozen=True, slots=True, kw_only=True)
class JUnitSuite:
    name: str
    cases: tuple[JUnitCase, ...]
    time: float = 0.0


def write_junit(path: Path, suites: Sequence[JUnitSuite], *, name: str) -> None:
    """Write ``suites`` to ``path`` as one ``<testsuites>`` document (atomically)."""
    root = ET.Element(
        "testsuites",
        {
            "name": _clean(name),
            "tests": str(sum(len(s.cases) for s in suites)),
            "failures": str(sum(c.failure is not None for s in suites for c in s.cases)),
            "errors": "0",
            "time": _seconds(sum(s.time for s in suites)),
        },
    )
    stamp = datetime.now(timezone.utc).replace(microsecond=0).isoformat()
    host = socket.gethostname()
    for index, suite in enumerate(suites):
        element = ET.SubElement(
            root,
            "testsuite",
            {
                "name": _clean(suite.name),
                "tests": str(len(suite.cases)),
                "failures": str(sum(c.failure is not None for c in suite.cases)),
                "errors": "0",
                "skipped": "0",
                "time": _seconds(suite.time),
                "timestamp": stamp,
                "hostname": host,
                "id": str(index),
            },
        )
        for case in suite.cases:
            _case(element, case)
    ET.indent(root)
    data = ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_bytes(data)
    temporary.replace(path)


def _case(parent: ET.Element, case: JUnitCase) -> None:
    element = ET.SubElement(
        parent,
        "testcase",
        {
            "name": _clean(case.name),
            "classname": _clean(case.classname),
            "time": _seconds(case.time),
        },
    )
    if case.failure is not None:
        failure = ET.SubElement(
            element, "failure", {"message": _clean(case.failure), "type": "simba"}
        )
        failure.text = _clean(case.details or case.failure)
    if case.output:
        ET.SubElement(element, "system-out").text = _clean(case.output)


def tail(lines: Sequence[str], count: int = TAIL_LINES) -> str:
    """The last ``count`` lines, joined (with a note of how many were left out)."""
    kept = list(lines[-count:])
    if len(lines) > count:
        kept.insert(0, f"[... {len(lines) - count} earlier lines]")
    return "\n".join(kept)


def _clean(text: str) -> str:
    return _UNSAFE.sub("\ufffd", text)


def _seconds(value: float) -> str:
    return f"{max(value, 0.0):.3f}"
