"""What a fresh interpreter imports for the SDK and for ``simba --version`` (start-up cost).

Each test runs a new ``python`` process, so nothing pytest or another test imported counts;
the modules the bare interpreter loads at start-up (``site`` and its ``.pth`` hooks) are
subtracted.
"""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import ROOT

#: Prints, as JSON, the modules that running the code in sys.argv[1] added to sys.modules
#: (what it prints itself goes to a file, so stdout holds only the list).
_PROBE = """
import contextlib, io, json, sys
before = set(sys.modules)
captured = io.StringIO()
code = 0
with contextlib.redirect_stdout(captured):
    try:
        exec(sys.argv[1], {"__name__": "probe"})
    except SystemExit as exc:
        code = exc.code
print(json.dumps({"modules": sorted(set(sys.modules) - before), "stdout": captured.getvalue(),
                  "exit": code}))
"""

#: Third-party distributions that SIMBA depends on, none of them needed to start.
HEAVY = ("click", "rich", "jsonschema", "networkx", "dateutil", "parsl")


def probe(code: str) -> tuple[list[str], str, object]:
    """Run ``code`` in a fresh interpreter: the modules it loaded, what it printed, its exit."""
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    report = json.loads(done.stdout)
    return report["modules"], report["stdout"], report["exit"]


def third_party(modules: list[str]) -> list[str]:
    """The modules neither in the standard library nor in simba."""
    return [
        m
        for m in modules
        if m.partition(".")[0] not in sys.stdlib_module_names and m.partition(".")[0] != "simba"
    ]


def test_sdk_imports_only_the_standard_library() -> None:
    """``import simba.module`` loads no third-party module and no other part of simba
    than the package itself and its version."""
    modules, _, _ = probe("import simba.module")
    assert third_party(modules) == []
    assert [m for m in modules if m.partition(".")[0] == "simba"] == [
        "simba",
        "simba._version",
        "simba.module",
    ]


def test_version_loads_neither_the_engine_nor_heavy_dependencies() -> None:
    """``python -m simba --version`` prints the version having loaded click and the CLI,
    but not the engine, the scenario loader, the planner or any other heavy dependency."""
    code = (
        "import runpy, sys; sys.argv = ['simba', '--version']; "
        "runpy.run_module('simba', run_name='__main__')"
    )
    modules, stdout, exit_code = probe(code)
    from simba import __version__

    assert exit_code == 0
    assert stdout == f"simba, version {__version__}\n"
    loaded = {m.partition(".")[0] for m in third_party(modules)}
    assert loaded == {"click"}, loaded
    assert loaded.isdisjoint(set(HEAVY) - {"click"})
    forbidden = ("simba.engine", "simba.scenario", "simba.plan", "simba.runners", "simba.sweep")
    assert [m for m in modules if m.startswith(forbidden)] == []


def test_import_simba_loads_nothing_else() -> None:
    """``import simba`` loads only its version; the public names load on first use."""
    modules, _, _ = probe("import simba")
    assert [m for m in modules if m.partition(".")[0] not in sys.stdlib_module_names] == [
        "simba",
        "simba._version",
    ]


def test_architecture_commands_run_in_ci() -> None:
    """Every command that docs/architecture.rst shows is one that .ci/run runs."""
    page = (ROOT / "docs" / "architecture.rst").read_text(encoding="utf-8")
    commands = [line.strip()[2:] for line in page.splitlines() if line.strip().startswith("$ ")]
    assert commands
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert [c for c in commands if c not in (line.strip() for line in ci)] == []
