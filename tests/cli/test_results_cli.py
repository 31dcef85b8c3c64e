"""``simba status`` and ``simba export`` as commands: registered, and their usage errors."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from simba.cli.app import cli


def test_status_and_export_are_commands_of_simba() -> None:
    """Both appear in simba --help and have help of their own."""
    runner = CliRunner()
    listing = runner.invoke(cli, ["--help"]).output
    assert "status" in listing and "export" in listing
    assert "--watch" in runner.invoke(cli, ["status", "--help"]).output
    assert "--wide" in runner.invoke(cli, ["export", "--help"]).output


def test_wrong_options_are_usage_errors(tmp_path: Path) -> None:
    """A file for RUN_DIR, an unknown format, a zero interval: exit 2."""
    (tmp_path / "file").write_text("")
    runner = CliRunner()
    for words in (
        ["status", str(tmp_path / "file")],
        ["export", str(tmp_path), "--format", "xlsx"],
        ["status", str(tmp_path), "--watch", "--interval", "0"],
    ):
        result = runner.invoke(cli, words)
        assert result.exit_code == 2, (words, result.output)
