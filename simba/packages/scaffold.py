"""``simba module new``: a module that validates, runs and packs out of the box.

The scaffold holds ``descriptor.json``, the module (written with the SDK, or in
POSIX sh), ``scenario.json`` (a sample scenario that runs the module from its
sources) and ``tests/test_module.py`` (runs that scenario with SIMBA and checks the
result).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simba.errors import PackageError
from simba.names import is_identifier

#: The namespace of a module created without one.
DEFAULT_NAMESPACE = "local"
LANGUAGES = ("python", "sh")


@dataclass(frozen=True, slots=True, kw_only=True)
class Scaffold:
    """What :func:`new_module` created."""

    namespace: str
    name: str
    directory: Path
    files: tuple[str, ...]

    @property
    def full_name(self) -> str:
        return f"{self.namespace}/{self.name}"


def new_module(full_name: str, *, lang: str = "python", directory: Path | None = None) -> Scaffold:
    """Create a module ``[namespace/]name`` in ``directory`` (default ``./name``)."""
    namespace, _, name = full_name.rpartition("/")
    namespace = namespace or DEFAULT_NAMESPACE
    for part, what in ((namespace, "namespace"), (name, "name")):
        if not is_identifier(part):
            raise PackageError(
                f"{full_name!r}: the {what} {part!r} may use letters, digits, '_', '.' and '-', "
                "not starting with '.' or '-'; write NAME or NAMESPACE/NAME"
            )
    if lang not in LANGUAGES:
        raise PackageError(f"--lang must be one of {', '.join(LANGUAGES)}, not {lang!r}")
    target = (directory or Path.cwd() / name).resolve()
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise PackageError(
            f"{target} already exists and is not an empty directory; choose another "
            "NAME or --directory"
        )
    files = _files(namespace, name, lang)
    for relative, (text, mode) in files.items():
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        path.chmod(mode)
    return Scaffold(namespace=namespace, name=name, directory=target, files=tuple(sorted(files)))


def _json(document: Any) -> str:
    return json.dumps(document, indent=2) + "\n"


def _files(namespace: str, name: str, lang: str) -> dict[str, tuple[str, int]]:
    """The files of a new module: path -> (text, mode)."""
    full_name = f"{namespace}/{name}"
    python = lang == "python"
    module_file = "module.py" if python else "module.sh"
    return {
        "descriptor.json": (_json(_descriptor(namespace, name, python)), 0o644),
        module_file: (
            (_PYTHON_MODULE if python else _SH_MODULE).replace("@FULL_NAME@", full_name),
            0o755,
        ),
        "scenario.json": (_json(_scenario(name, python)), 0o644),
        "tests/test_module.py": (
            _TEST.replace("@NAME@", name).replace("@CHECK_STEPS@", str(python)),
            0o644,
        ),
        "README.md": (
            _README.replace("@FULL_NAME@", full_name)
            .replace("@MODULE_FILE@", module_file)
            .replace("@NAMESPACE@", namespace)
            .replace("@NAME@", name),
            0o644,
        ),
    }


def _descriptor(namespace: str, name: str, python: bool) -> dict[str, Any]:
    """The example descriptor.json of a new module."""
    properties: dict[str, Any] = {
        "greeting": {"type": "string", "minLength": 1, "description": "Said at the start."}
    }
    if python:
        properties["steps"] = {
            "type": "integer",
            "minimum": 0,
            "description": "Steps taken so far (the module keeps it up to date).",
        }
    return {
        "namespace": namespace,
        "name": name,
        "version": "0.1.0",
        "description": f"{name}: a SIMBA module that greets and counts its steps.",
        "command": ["{python}", "{packageDir}/module.py"] if python else "module.sh",
        "moduleDataSchema": {
            "type": "object",
            "properties": properties,
            "additionalProperties": False,
        },
        "requires": {"python": ">=3.10"} if python else {"executables": ["sed", "awk"]},
        "authors": [],
        "license": "Apache-2.0",
    }


def _scenario(name: str, python: bool) -> dict[str, Any]:
    """The example scenario.json that runs a new module from its sources."""
    return {
        "driver": {
            "initialTime": "2024-01-01T00:00:00",
            "endTime": "P3D",
            "scheduleIntervals": [{"tickDuration": "P1D"}],
        },
        "schedule": [
            {
                "name": name,
                # From the sources; once installed, write "package": "<namespace>/<name>@..."
                "command": ["{python}", "module.py"] if python else "module.sh",
                "priority": 1,
                "workingDirectory": ".",
                "moduleData": {"greeting": "hello"},
                "env": {"MODULE_LOG_DIR": "{logDir}"},
            }
        ],
    }


_PYTHON_MODULE = '''\
#!/usr/bin/env python3
"""@FULL_NAME@: a SIMBA module written with the SDK (simba.module).

SIMBA runs it as ``{python} {packageDir}/module.py CONFIG`` (see descriptor.json).
moduleData is checked against the descriptor's moduleDataSchema before the run
starts; the module keeps its step count there, and SIMBA hands it to the next call.
"""

from __future__ import annotations

import os
from pathlib import Path

from simba.module import Context, Module


def write_log(log: Path, tick: int, target: int) -> None:
    """Write the line of this step into ``log`` from state, never by appending.

    A step may run twice: when a run is interrupted after the module wrote but before
    SIMBA recorded the call, ``simba run --resume`` runs that call again.  So the step
    keeps the lines of earlier ticks, adds its own, and replaces the file in one rename:
    running it again gives the same file.
    """
    lines = log.read_text(encoding="utf-8").splitlines() if log.exists() else []
    earlier = [line for line in lines if int(line.split()[0]) < tick]
    temporary = log.with_name(f".{log.name}.tmp")
    temporary.write_text("".join(f"{line}\\n" for line in earlier) + f"{tick} -> {target}\\n")
    temporary.replace(log)


class Model(Module):
    def start(self, ctx: Context) -> None:
        ctx.module_data.setdefault("steps", 0)
        ctx.info(f"{ctx.module_data.get('greeting', 'hello')} at tick {ctx.current_tick}")

    def step(self, ctx: Context) -> None:
        ctx.module_data["steps"] = ctx.module_data.get("steps", 0) + 1
        log_dir = os.environ.get("MODULE_LOG_DIR")  # the scenario sets it to {logDir}
        if log_dir:
            write_log(Path(log_dir) / "steps.log", ctx.current_tick, ctx.target_tick)

    def end(self, ctx: Context) -> None:
        ctx.info(f"done after {ctx.module_data.get('steps', 0)} steps")


if __name__ == "__main__":
    Model.main()
'''

_SH_MODULE = """\
#!/bin/sh
# @FULL_NAME@: a SIMBA module in POSIX sh.
#
# SIMBA runs it with the path of its config document as the only argument.  The
# document has one top-level key per line, indented by two spaces (moduleData keys by
# four), so sed can read the few values needed.  Lines starting with INFO: appear in
# SIMBA's activity log.
set -eu

config=$1

# The value of a string key: $1 the key, $2 its indentation.
text() {
    sed -n "s/^$2\\"$1\\": \\"\\(.*\\)\\",\\{0,1\\}\\$/\\1/p" "$config"
}

# The value of an integer key at the top level.
number() {
    sed -n "s/^  \\"$1\\": \\(-\\{0,1\\}[0-9][0-9]*\\),\\{0,1\\}\\$/\\1/p" "$config"
}

status_file=$(text statusFile "  ")

case $(text mode "  ") in
start)
    echo "INFO: $(text greeting "    ") at tick $(number currentTick)"
    ;;
step)
    # A step may run twice (a resumed run repeats a call cut off mid-way), so it never
    # appends: it keeps the lines of earlier ticks, adds its own and replaces the file
    # in one rename.  Running it again gives the same file.
    if [ -n "${MODULE_LOG_DIR:-}" ]; then  # the scenario sets it to {logDir}
        tick=$(number currentTick)
        log=$MODULE_LOG_DIR/steps.log
        {
            if [ -f "$log" ]; then awk -v tick="$tick" '$1 < tick' "$log"; fi
            echo "$tick -> $(number targetTick)"
        } >"$MODULE_LOG_DIR/.steps.log.tmp"
        mv "$MODULE_LOG_DIR/.steps.log.tmp" "$log"
    fi
    ;;
end)
    echo "INFO: done"
    ;;
esac

printf '{"status": "success"}\\n' >"$status_file"
"""

_TEST = '''\
"""The module, run by SIMBA as a real process on the sample scenario."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent


def test_sample_scenario_runs(tmp_path: Path) -> None:
    """The sample scenario runs to the end and the module logs each of its 3 steps."""
    result = subprocess.run(
        [sys.executable, "-m", "simba", "run", str(HERE / "scenario.json")]
        + ["-o", str(tmp_path), "--run-id", "test", "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["outcome"] == "success"
    log = tmp_path / "test" / "modules" / "@NAME@" / "log" / "steps.log"
    assert log.read_text().splitlines() == ["0 -> 1", "1 -> 2", "2 -> 3"]
    if @CHECK_STEPS@:
        assert summary["modules"]["@NAME@"]["moduleData"]["steps"] == 3


def test_validate(tmp_path: Path) -> None:
    """simba validate accepts the sample scenario."""
    result = subprocess.run(
        [sys.executable, "-m", "simba", "validate", str(HERE / "scenario.json")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 0, result.stderr
'''

_README = """\
# @FULL_NAME@

A SIMBA module.  `@MODULE_FILE@` is the module, `descriptor.json` describes the package,
`scenario.json` runs the module from these sources, and `tests/` checks that it works.

    simba validate scenario.json        # check the sample scenario
    simba run scenario.json             # run it (output in ./runs)
    python -m pytest tests              # the module's test
    simba module pack .                 # -> @NAMESPACE@-@NAME@-<version>.zip
    simba module install @NAMESPACE@-@NAME@-0.1.0.zip

Once installed, a scenario runs it by name and version range instead of a command:

    {"name": "@NAME@", "package": "@FULL_NAME@@>=0.1,<1", "priority": 1,
     "moduleData": {"greeting": "hello"}}
"""
