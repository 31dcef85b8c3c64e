"""The files and commands shown in the docs are run for real, so they cannot go stale.

A page is read top down, as a reader follows it, in a fresh directory (the session
directory, shown in the docs as ``/home/me/simba``):

* a ``.. code-block::`` whose ``:caption:`` is a relative path (no spaces), such as
  ``growth/schedule.json``, is a file: it is written there (a later block with the same
  caption replaces it, as when a page breaks a module and then fixes it);
* a ``.. code-block:: console`` with a ``:name:`` is a session: each ``$ `` line is run
  with bash in the session directory (``simba`` is this environment's, found on PATH
  without activating anything), and the lines after it up to the next ``$ `` line are
  its output, stdout and stderr together. ``...`` stands for any number of lines and a
  dotted number (a time, a run id, a version) for any other; nothing else may differ.
  A command that fails must be followed by ``$ echo $?`` showing its exit status.

Console blocks without a name (installs, cluster commands) are not run; every console
block of the tutorial must have one.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import EXAMPLES

DOCS = Path(__file__).resolve().parent.parent / "docs"
#: The session directory as the docs show it.
SHOWN_HOME = "/home/me/simba"

_DIRECTIVE = re.compile(r"^\.\. code-block::\s*(\S+)\s*$")
_OPTION = re.compile(r"^   :([\w-]+):\s*(.*)$")
#: A time, a run id or a version: any such number stands for any other.
_DECIMAL = re.compile(r"\d+(?:\.\d+)+")


@dataclass(frozen=True)
class Block:
    """A ``code-block`` of a page: its language, options and text (dedented)."""

    language: str
    options: dict[str, str]
    text: str
    line: int

    @property
    def file_path(self) -> str | None:
        caption = self.options.get("caption", "")
        return caption if caption and " " not in caption and "/" in caption else None


def read_blocks(page: Path) -> list[Block]:
    """Every ``.. code-block::`` of an .rst page, in order."""
    lines = page.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        match = _DIRECTIVE.match(lines[index])
        if not match:
            index += 1
            continue
        start = index
        index += 1
        options: dict[str, str] = {}
        while index < len(lines) and (option := _OPTION.match(lines[index])):
            options[option.group(1)] = option.group(2).strip()
            index += 1
        body: list[str] = []
        while index < len(lines) and (not lines[index].strip() or lines[index].startswith("   ")):
            body.append(lines[index][3:])
            index += 1
        text = "\n".join(body).strip("\n") + "\n"
        blocks.append(Block(match.group(1), options, text, start + 1))
    return blocks


def expected_pattern(shown: list[str]) -> re.Pattern[str]:
    """A regular expression for output shown in the docs (``...`` lines, decimals)."""
    parts: list[str] = []
    for line in shown:
        if line.strip() == "...":
            parts.append(r"(?:[^\n]*\n)*?")
            continue
        pieces = _DECIMAL.split(line)
        parts.append(r"\d+(?:\.\d+)+".join(re.escape(piece) for piece in pieces) + r"\n")
    return re.compile("".join(parts))


@dataclass
class Session:
    """A directory in which a page's files are written and its commands run."""

    directory: Path
    shown_home: str = SHOWN_HOME
    outputs: dict[str, str] = field(default_factory=dict)
    exit_status: int = 0

    def environment(self) -> dict[str, str]:
        path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
        env = {**os.environ, "PATH": path, "HOME": str(self.directory), "LC_ALL": "C"}
        env.pop("VIRTUAL_ENV", None)
        return env

    def write(self, block: Block) -> None:
        assert block.file_path is not None
        target = self.directory / block.file_path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(block.text, encoding="utf-8")
        if block.text.startswith("#!"):
            target.chmod(0o755)

    def run(self, command: str) -> str:
        result = subprocess.run(
            ["bash", "-c", f"(exit {self.exit_status}); {command}"],
            cwd=self.directory,
            env=self.environment(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=300,
            check=False,
        )
        self.exit_status = result.returncode
        output = result.stdout.replace(str(self.directory.resolve()), self.shown_home)
        output = output.replace(str(self.directory), self.shown_home)
        output = "".join(line.rstrip() + "\n" for line in output.splitlines())
        self.outputs[command] = output
        return output

    def play(self, block: Block, where: str) -> None:
        """Run a console block's commands and compare their output with the shown one."""
        steps: list[tuple[str, list[str]]] = []
        for line in block.text.splitlines():
            if line.startswith("$ "):
                steps.append((line[2:].strip(), []))
            elif steps:
                steps[-1][1].append(line.rstrip())
            else:
                pytest.fail(f"{where}: output before the first command: {line!r}")
        for number, (command, shown) in enumerate(steps):
            if self.exit_status != 0 and command != "echo $?":
                pytest.fail(f"{where}: the command before {command!r} exited {self.exit_status}")
            output = self.run(command)
            while shown and not shown[-1].strip():
                shown.pop()
            if shown and not expected_pattern(shown).fullmatch(output):
                pytest.fail(
                    f"{where}: `{command}` printed\n{output}\nbut the docs show\n"
                    + "\n".join(shown)
                )
            last = number == len(steps) - 1
            if last and self.exit_status != 0:
                pytest.fail(f"{where}: `{command}` exited {self.exit_status}, not shown")

    def follow(self, page: Path, names: tuple[str, ...] = ()) -> list[str]:
        """Write the page's files and play its named console blocks, top down."""
        played: list[str] = []
        for block in read_blocks(page):
            if block.file_path is not None:
                self.write(block)
            elif block.language == "console" and "name" in block.options:
                if names and block.options["name"] not in names:
                    continue
                self.play(block, f"{page.name}:{block.line} ({block.options['name']})")
                played.append(block.options["name"])
        return played


def test_the_protocol_pages_sdk_example_runs(tmp_path: Path) -> None:
    """The SDK example of docs/protocol.rst, written out as shown, runs with `simba run`."""
    session = Session(tmp_path)
    played = session.follow(DOCS / "protocol.rst")
    assert played == ["protocol-growth-run"]
    assert (tmp_path / "runs" / "growth" / ".simba" / "summary.json").is_file()


def test_the_quickstart_shows_what_simba_prints(tmp_path: Path) -> None:
    """The quickstart's validate, plan and run output is what those commands print."""
    shutil.copytree(EXAMPLES / "quickstart", tmp_path / "examples" / "quickstart")
    shutil.copytree(EXAMPLES / "reference", tmp_path / "examples" / "reference")
    session = Session(tmp_path)
    played = session.follow(DOCS / "quickstart.rst")
    assert played == ["quickstart-try", "quickstart-reference"]
    (shown,) = [
        b for b in read_blocks(DOCS / "quickstart.rst") if b.options.get("name") == "quickstart-run"
    ]
    output = session.outputs["simba run examples/quickstart"]
    lines = shown.text.splitlines()
    assert expected_pattern(lines).fullmatch(output), output
    # The wall time shown is that of a real run, not of another machine or decade.
    (shown_time,) = re.findall(r"calls in (\d+\.\d+) s", shown.text)
    (run_time,) = re.findall(r"calls in (\d+\.\d+) s", output)
    assert float(shown_time) < 10 * max(float(run_time), 0.5), (shown_time, run_time)


def test_every_console_block_of_the_tutorial_is_run() -> None:
    """No command of the tutorial escapes the test: each console block has a name."""
    for block in read_blocks(DOCS / "tutorial.rst"):
        if block.language == "console":
            assert "name" in block.options, f"tutorial.rst:{block.line} has no :name:"


def test_the_tutorial_runs_as_written(tmp_path: Path) -> None:
    """Every file of the tutorial is written and every command run, with the shown output."""
    session = Session(tmp_path, shown_home="/home/me/tutorial")
    played = session.follow(DOCS / "tutorial.rst")
    assert played[-1] == "tutorial-resume"
    assert (tmp_path / "runs" / "third" / "reports" / "all.txt").is_file()


def _patterns(node: object) -> list[str]:
    if isinstance(node, dict):
        found = [node["pattern"]] if isinstance(node.get("pattern"), str) else []
        return found + [p for value in node.values() for p in _patterns(value)]
    if isinstance(node, list):
        return [p for value in node for p in _patterns(value)]
    return []


def test_every_schema_pattern_is_put_in_words_by_the_scenario_reference() -> None:
    """The reference's Type column names each pattern in words, never as a bare regex."""
    import json

    sys.path.insert(0, str(DOCS / "_ext"))
    try:
        import schemadoc
    finally:
        sys.path.remove(str(DOCS / "_ext"))
    schema_dir = DOCS.parent / "schema"
    for path in sorted(schema_dir.glob("*.json")):
        for pattern in _patterns(json.loads(path.read_text(encoding="utf-8"))):
            words = schemadoc._pattern_words(pattern)
            assert words != "see the pattern", f"{path.name}: no words for {pattern!r}"


def run_python_block(session: Session, page: Path, name: str) -> None:
    """Run a named Python block; each ``print(...)  # text`` line must print that text."""
    (block,) = [b for b in read_blocks(page) if b.options.get("name") == name]
    expected = [
        line.split("# ", 1)[1].strip()
        for line in block.text.splitlines()
        if line.startswith("print(") and "# " in line
    ]
    script = session.directory / f"{name}.py"
    script.write_text(block.text, encoding="utf-8")
    output = session.run(f"python {script.name}")
    assert session.exit_status == 0, output
    assert output.splitlines() == expected, f"{page.name} ({name}) printed\n{output}"


def test_the_quickstarts_python_example_prints_what_it_says(tmp_path: Path) -> None:
    """The quickstart's `simba.load` / `simba.run` example prints the values in its comments."""
    shutil.copytree(EXAMPLES / "reference", tmp_path / "examples" / "reference")
    run_python_block(Session(tmp_path), DOCS / "quickstart.rst", "quickstart-python")


def test_the_api_pages_example_prints_what_it_says(tmp_path: Path) -> None:
    """The first example of docs/api.rst runs the quickstart and prints what it says."""
    shutil.copytree(EXAMPLES / "quickstart", tmp_path / "examples" / "quickstart")
    run_python_block(Session(tmp_path), DOCS / "api.rst", "api-run")
