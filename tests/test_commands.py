"""The one command rule shared by schedule entries and package descriptors."""

from __future__ import annotations

from pathlib import Path

import pytest

from simba import commands


@pytest.mark.parametrize(
    ("command", "words"),
    [
        ("./model --fast", ["./model", "--fast"]),
        ("python3 'my model.py'", ["python3", "my model.py"]),
        ("./model | tee log", None),
        ("echo $HOME", None),
        ("A=1 ./model", None),
        ("", None),
    ],
)
def test_split_runs_plain_commands_without_a_shell(command: str, words: list[str] | None) -> None:
    """A string is split into words unless it has shell syntax, sets a variable or is empty."""
    assert commands.split(command) == words


def test_split_refuses_unbalanced_quotes() -> None:
    """A string with an open quote cannot be split: shlex's ValueError says why."""
    with pytest.raises(ValueError, match="quotation"):
        commands.split("./model 'open")


def test_shell_argv_passes_the_config_path_as_dollar_one() -> None:
    """The config path goes at the end, even where the text names $1 (reference behaviour)."""
    assert commands.shell_argv("./m | tee x") == ("/bin/sh", "-c", './m | tee x "$@"', "sh")
    assert commands.shell_argv("bash -c './m \"$1\"' w")[2] == 'bash -c \'./m "$1"\' w "$@"'


def test_program_of_is_none_for_shell_commands() -> None:
    """The program of a list is its first item; a shell command or unsplittable one has none."""
    assert commands.program_of(["{python}", "m.py"]) == "{python}"
    assert commands.program_of("bin/model --x") == "bin/model"
    assert commands.program_of("a | b") is None
    assert commands.program_of("'open") is None
    assert commands.program_of([]) is None


def test_find_program_checks_existence_type_and_exec_bit(tmp_path: Path) -> None:
    """A program must exist, be a file and be executable; a bare name may be on PATH."""
    script = tmp_path / "model.sh"
    script.write_text("#!/bin/sh\n")
    with pytest.raises(commands.CommandError, match="is not executable; run 'chmod \\+x"):
        commands.find_program("./model.sh", tmp_path)
    script.chmod(0o755)
    assert commands.find_program("model.sh", tmp_path) == str(script)
    assert commands.find_program("./model.sh", tmp_path) == str(script)
    with pytest.raises(commands.CommandError, match="does not exist"):
        commands.find_program("./missing", tmp_path)
    with pytest.raises(commands.CommandError, match="is not a file"):
        commands.find_program(str(tmp_path), tmp_path)
    with pytest.raises(commands.CommandError, match="is not on PATH"):
        commands.find_program("no-such-program-anywhere", tmp_path)
    assert commands.find_program("sh", tmp_path).endswith("/sh")
